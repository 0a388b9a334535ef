import ArgumentParser
import DeviceIdentity
import Foundation
import PortcullisServer
import X509

struct CRLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl",
        abstract: "Certificate revocation lists: a device certificate whose serial is on its CA's list is refused.",
        discussion: """
            A list is kept per CA: a registered CA (its certificate id) or the gateway's own CA (`local`). It
            must be signed by that CA and not be older than the list in place. Certificates on it are refused
            at the TLS handshake even when registered ACTIVE, and their live connections close when the list
            is uploaded. The lookup is one set membership test, whatever the list's length. upload, show and
            delete go through the running gateway's API (PUT/GET/DELETE /cacertificate/ID/revocation-list);
            issue signs a list with the gateway's CA offline.
            """,
        subcommands: [Upload.self, Show.self, Delete.self, Issue.self]
    )

    /// `local` is the gateway's CA; anything else must be a CA certificate id.
    static func caID(_ text: String, data: DataDirectory) throws -> String {
        guard text == "local" else {
            guard text.count == 64, text.allSatisfy(\.isHexDigit) else {
                throw ValidationError("--ca: a CA certificate id (64 hex digits) or 'local', got '\(text)'")
            }
            return text.lowercased()
        }
        guard let pem = try? String(contentsOfFile: data.caCertificatePath, encoding: .utf8),
              let certificate = try? PEM.parseCertificate(pem: pem), let id = try? CertificateID.compute(certificate) else {
            throw ValidationError("cannot read the gateway's CA certificate \(data.caCertificatePath)")
        }
        return id
    }

    static func printDescription(_ object: [String: Any]) {
        let keys = ["caCertificateId", "revokedCount", "crlNumber", "thisUpdate", "nextUpdate", "stale", "uploadedDate"]
        for key in keys {
            guard let value = object[key] else { continue }
            if key == "stale", let stale = value as? Bool {
                print("stale: \(stale ? "yes (past nextUpdate: still enforced; upload a newer list)" : "no")")
            } else if key == "crlNumber", let hex = value as? String, let number = UInt64(hex, radix: 16) {
                print("crlNumber: \(number)")
            } else if let seconds = value as? Double, key.hasSuffix("Update") || key.hasSuffix("Date") {
                print("\(key): \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds)))")
            } else {
                print("\(key): \(value)")
            }
        }
    }

    struct Options: ParsableArguments {
        @Option(name: .long, help: "The CA: its certificate id, or 'local' for the gateway's CA.")
        var ca: String

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        /// The API client and the list's path on it.
        func target() throws -> (api: AdminAPIClient, path: String) {
            let data = DeviceCommand.dataDirectory(dataDir)
            let id = try CRLCommand.caID(ca, data: data)
            return (try DeviceCommand.api(data), "/cacertificate/\(id)/revocation-list")
        }
    }

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "upload", abstract: "Put a CA's revocation list (PEM or DER file).")

        @OptionGroup var options: Options

        @Argument(help: "The CRL file (PEM or DER).")
        var file: String

        func run() async throws {
            guard let bytes = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let (api, path) = try options.target()
            let answer = try await DeviceCommand.run {
                try await api.call("PUT", path, rawBody: bytes, headers: [("Content-Type", "application/pkix-crl")])
            }
            CRLCommand.printDescription(answer)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Describe a CA's revocation list.")

        @OptionGroup var options: Options

        func run() async throws {
            let (api, path) = try options.target()
            let answer = try await DeviceCommand.run { try await api.call("GET", path) }
            CRLCommand.printDescription(answer)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a CA's revocation list (its serials may connect again).")

        @OptionGroup var options: Options

        func run() async throws {
            let (api, path) = try options.target()
            _ = try await DeviceCommand.run { try await api.call("DELETE", path) }
            print("deleted the revocation list of \(options.ca)")
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue",
            abstract: "Write a CRL signed by the gateway's own CA revoking the given device certificates (offline; upload it with `crl upload --ca local`).")

        @Argument(help: "Device certificate files (PEM) to revoke.")
        var certificates: [String] = []

        @Option(name: .long, help: "Where to write the CRL (PEM).")
        var out: String

        @Option(name: .long, help: "Days until nextUpdate (default 30).")
        var days: Int = 30

        @Option(name: .long, help: "The CRL Number; must grow from one list to the next (default: the current time in seconds).")
        var number: Int?

        @Option(name: .long, help: "Data folder of the gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            guard (1...3650).contains(days) else { throw ValidationError("--days: 1 to 3650") }
            let data = DeviceCommand.dataDirectory(dataDir)
            guard let caPEM = try? String(contentsOfFile: data.caCertificatePath, encoding: .utf8),
                  let keyPEM = try? String(contentsOfFile: data.caKeyPath, encoding: .utf8) else {
                throw ValidationError("cannot read the gateway's CA in \(data.root.path)")
            }
            let ca = try CertificateAuthority(certificatePEM: caPEM, privateKeyPEM: keyPEM)
            var serials: [Certificate.SerialNumber] = []
            for path in certificates {
                guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let certificate = try? PEM.parseCertificate(pem: pem) else {
                    throw ValidationError("cannot read the certificate \(path)")
                }
                guard certificate.issuer == ca.certificate.subject else {
                    throw ValidationError("\(path) was not issued by the gateway's CA")
                }
                serials.append(certificate.serialNumber)
            }
            let now = Date()
            let crl = try ca.makeRevocationList(revoking: serials, thisUpdate: now, nextUpdate: now.addingTimeInterval(Double(days) * 86_400),
                                                crlNumber: number ?? Int(now.timeIntervalSince1970))
            try crl.pem.write(toFile: out, atomically: true, encoding: .utf8)
            print("wrote \(out): \(serials.count) revoked, signed by the gateway's CA \(ca.certificateID)")
        }
    }
}
