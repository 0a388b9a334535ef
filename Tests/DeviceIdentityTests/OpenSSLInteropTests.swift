import Foundation
import Testing
import X509

@testable import DeviceIdentity

/// Cross-checks against the OpenSSL command line, the reference most operators will reach for.
/// Each test returns early when `/usr/bin/openssl` is not installed.
@Suite("OpenSSL interop")
struct OpenSSLInteropTests {
    static let openssl = "/usr/bin/openssl"

    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: openssl) }

    /// The reference time as Unix seconds, for `openssl verify -attime`.
    static var attime: String { String(Int(Fixtures.referenceTime.timeIntervalSince1970) + 60) }

    @Test("the certificate id equals OpenSSL's SHA-256 fingerprint")
    func fingerprint() throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed: nothing to compare with.
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)
        let rsaClient = try authority.issueClientCertificate(
            commonName: "rsa", notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear, key: .generate(.rsa2048))

        try withTemporaryDirectory { directory in
            for credential in [client, rsaClient] {
                let path = try write(credential.certificatePEM, to: directory, name: "cert.pem")
                let output = try run(["x509", "-noout", "-fingerprint", "-sha256", "-in", path])
                let fingerprint = try #require(output.split(separator: "=").last)
                let normalized = fingerprint.replacingOccurrences(of: ":", with: "").lowercased()
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(normalized == credential.certificateID)
            }
        }
    }

    @Test("OpenSSL verifies our client certificate against our CA, for the SSL client purpose")
    func verifyClient() throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed.
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)
        let rsaClient = try authority.issueClientCertificate(
            commonName: "rsa", notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear, key: .generate(.rsa2048))

        try withTemporaryDirectory { directory in
            let caPath = try write(authority.certificatePEM, to: directory, name: "ca.pem")
            for credential in [client, rsaClient] {
                let clientPath = try write(credential.certificatePEM, to: directory, name: "client.pem")
                let output = try run([
                    "verify", "-x509_strict", "-attime", Self.attime, "-purpose", "sslclient",
                    "-CAfile", caPath, clientPath,
                ])
                #expect(output.contains("OK"))

                // OpenSSL reads our PKCS#8 key and agrees that it matches the certificate.
                let keyPath = try write(credential.privateKeyPEM, to: directory, name: "client.key")
                let keyPublic = try run(["pkey", "-in", keyPath, "-pubout"])
                let certificatePublic = try run(["x509", "-in", clientPath, "-noout", "-pubkey"])
                #expect(keyPublic == certificatePublic)
            }

            // Like our verifier, OpenSSL refuses a client certificate as a server certificate.
            let clientPath = try write(client.certificatePEM, to: directory, name: "client.pem")
            #expect(throws: OpenSSLFailure.self) {
                try run(["verify", "-attime", Self.attime, "-purpose", "sslserver", "-CAfile", caPath, clientPath])
            }
        }
    }

    @Test("OpenSSL verifies our server certificate for its DNS name and both IP addresses")
    func verifyServer() throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed.
        let authority = try Fixtures.makeRoot()
        let server = try authority.issueServerCertificate(
            dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"], commonName: "localhost",
            notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear)

        try withTemporaryDirectory { directory in
            let caPath = try write(authority.certificatePEM, to: directory, name: "ca.pem")
            let serverPath = try write(server.certificatePEM, to: directory, name: "server.pem")
            let base = ["verify", "-x509_strict", "-attime", Self.attime, "-purpose", "sslserver", "-CAfile", caPath]
            #expect(try run(base + ["-verify_hostname", "localhost", serverPath]).contains("OK"))
            #expect(try run(base + ["-verify_ip", "127.0.0.1", serverPath]).contains("OK"))
            #expect(try run(base + ["-verify_ip", "::1", serverPath]).contains("OK"))
            #expect(throws: OpenSSLFailure.self) {
                try run(base + ["-verify_hostname", "example.com", serverPath])
            }
        }
    }

    @Test("a CA made by OpenSSL, with a SEC1 or PKCS#1 key, loads and issues certificates we and OpenSSL accept")
    func opensslMadeCA() async throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed.
        try await withTemporaryDirectory { directory in
            let ecKey = directory.appendingPathComponent("ec.key").path
            _ = try run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ecKey])
            let rsaKey = directory.appendingPathComponent("rsa.key").path
            _ = try run(["genrsa", "-traditional", "-out", rsaKey, "2048"])

            for (keyPath, header) in [(ecKey, "EC PRIVATE KEY"), (rsaKey, "RSA PRIVATE KEY")] {
                let keyPEM = try String(contentsOfFile: keyPath, encoding: .utf8)
                #expect(keyPEM.contains("BEGIN \(header)"))
                let caPath = directory.appendingPathComponent("ca.pem").path
                _ = try run([
                    "req", "-x509", "-new", "-key", keyPath, "-subj", "/O=OpenSSL/CN=OpenSSL Test CA",
                    "-days", "3650", "-out", caPath,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                ])
                let authority = try CertificateAuthority(
                    certificatePEM: try String(contentsOfFile: caPath, encoding: .utf8),
                    privateKeyPEM: keyPEM
                )
                #expect(authority.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))

                // The OpenSSL CA is valid from now, so check at the current time.
                let now = Date()
                let client = try authority.issueClientCertificate(commonName: "dev", notBefore: now, validity: Fixtures.oneDay)
                let verifier = ClientCertificateVerifier(trustRoots: [authority.certificate])
                #expect(await verifier.verify(chain: [client.certificate], at: now.addingTimeInterval(60)).isTrusted)

                let clientPath = try write(client.certificatePEM, to: directory, name: "client.pem")
                let output = try run([
                    "verify", "-attime", String(Int(now.timeIntervalSince1970) + 60), "-purpose", "sslclient",
                    "-CAfile", caPath, clientPath,
                ])
                #expect(output.contains("OK"))
            }
        }
    }

    @Test("a signing request made by OpenSSL is issued a certificate OpenSSL verifies")
    func opensslCSR() throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed.
        let authority = try Fixtures.makeRoot()
        try withTemporaryDirectory { directory in
            let keyPath = directory.appendingPathComponent("device.key").path
            let csrPath = directory.appendingPathComponent("device.csr").path
            _ = try run([
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", keyPath, "-subj", "/CN=csr-device", "-out", csrPath,
            ])
            let request = try PEM.parseCertificateSigningRequest(pem: try String(contentsOfFile: csrPath, encoding: .utf8))
            let certificate = try authority.issueClientCertificate(
                for: request, notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear)
            let key = try PEM.parsePrivateKey(pem: try String(contentsOfFile: keyPath, encoding: .utf8))
            #expect(certificate.publicKey == key.publicKey)

            let caPath = try write(authority.certificatePEM, to: directory, name: "ca.pem")
            let certificatePath = try write(try PEM.encode(certificate), to: directory, name: "device.pem")
            let output = try run([
                "verify", "-x509_strict", "-attime", Self.attime, "-purpose", "sslclient", "-CAfile", caPath,
                certificatePath,
            ])
            #expect(output.contains("OK"))
        }
    }
}

struct OpenSSLFailure: Error, CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var output: String

    var description: String { "openssl \(arguments.joined(separator: " ")) exited \(status): \(output)" }
}

extension OpenSSLInteropTests {
    @Test("OpenSSL verifies and lists a CRL made here; a CRL made by openssl ca parses and verifies here")
    func revocationListsBothWays() throws {
        guard Self.isAvailable else { return }
        let authority = try Fixtures.makeRoot()
        let revoked = try Fixtures.makeClient(from: authority, commonName: "revoked")
        let crl = try authority.makeRevocationList(revoking: [revoked.certificate.serialNumber], thisUpdate: Fixtures.referenceTime,
                                                   nextUpdate: Fixtures.referenceTime.addingTimeInterval(Fixtures.oneDay), crlNumber: 7)
        try withTemporaryDirectory { directory in
            let ca = try write(authority.certificatePEM, to: directory, name: "ca.pem")
            let path = try write(crl.pem, to: directory, name: "crl.pem")
            let text = try run(["crl", "-in", path, "-CAfile", ca, "-noout", "-text"])
            #expect(text.contains("verify OK") || text.contains("Certificate Revocation List"))
            let serial = CertificateRevocationList.serialKey(revoked.certificate.serialNumber).uppercased()
            #expect(text.replacingOccurrences(of: ":", with: "").uppercased().contains(serial))
            #expect(text.contains("X509v3 CRL Number") && text.contains("7"))
            _ = try run(["crl", "-in", path, "-CAfile", ca, "-noout"])  // fails (throws) unless the signature verifies

            // The other way: openssl ca revokes a certificate and generates the list.
            let key = try write(authority.privateKeyPEM, to: directory, name: "ca.key")
            let cert = try write(revoked.certificatePEM, to: directory, name: "dev.pem")
            _ = try write("", to: directory, name: "index.txt")
            let config = try write("""
                [ ca ]
                default_ca = local
                [ local ]
                database = \(directory.path)/index.txt
                crlnumber = \(directory.path)/crlnumber
                default_md = sha256
                default_crl_days = 7
                """, to: directory, name: "ca.cnf")
            _ = try write("1000\n", to: directory, name: "crlnumber")
            _ = try run(["ca", "-config", config, "-keyfile", key, "-cert", ca, "-revoke", cert])
            let generated = directory.appendingPathComponent("openssl-crl.pem").path
            _ = try run(["ca", "-config", config, "-keyfile", key, "-cert", ca, "-gencrl", "-out", generated])
            let parsed = try CertificateRevocationList(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: generated))))
            #expect(parsed.isSigned(by: authority.certificate))
            #expect(parsed.revokedSerials == [CertificateRevocationList.serialKey(revoked.certificate.serialNumber)])
            #expect(parsed.crlNumber == "1000")
            #expect(parsed.nextUpdate != nil)
        }
    }

    @Test("an RSA-1024 certificate or CSR is refused with AWS's key rule, not a parse error")
    func weakRSAKeys() async throws {
        guard Self.isAvailable else { return }  // OpenSSL not installed.
        let authority = try Fixtures.makeRoot()
        try await withTemporaryDirectory { directory in
            let key = directory.appendingPathComponent("weak.key").path
            let cert = directory.appendingPathComponent("weak.pem").path
            let csr = directory.appendingPathComponent("weak.csr").path
            _ = try run(["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=weak"])
            _ = try run(["req", "-new", "-key", key, "-out", csr, "-subj", "/CN=weak"])
            let certificatePEM = try String(contentsOfFile: cert, encoding: .utf8)
            let requestPEM = try String(contentsOfFile: csr, encoding: .utf8)

            do {
                _ = try PEM.parseCertificates(pem: certificatePEM)
                Issue.record("an RSA-1024 certificate parsed")
            } catch let error as DeviceIdentityError {
                #expect(error.code == .weakKey)
                #expect(error.reason == "the certificate's RSA key has 1024 bits; \(KeyStrength.rule)")
            }
            do {
                _ = try authority.issueCertificate(forCSR: requestPEM, now: Fixtures.referenceTime)
                Issue.record("an RSA-1024 CSR was signed")
            } catch let error as DeviceIdentityError {
                #expect(error.code == .weakKey)
                #expect(error.reason.contains("certificate signing request's RSA key has 1024 bits"))
            }
            let der = try PEM.parseDocuments(certificatePEM)[0].derBytes
            let verdict = await ClientCertificateVerifier(trustRoots: [authority.certificate]).verify(derChain: [der], at: Fixtures.referenceTime)
            guard case .rejected(let rejection) = verdict else {
                Issue.record("a handshake with an RSA-1024 certificate was trusted")
                return
            }
            #expect(rejection.code == .weakKey && rejection.reason.contains("1024 bits"))
        }
        // Keys AWS accepts are not mistaken for weak ones.
        for algorithm in [KeyAlgorithm.rsa2048, .p256] {
            let credential = try authority.issueClientCertificate(
                commonName: "ok", notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear, key: .generate(algorithm))
            let der = try PEM.parseDocuments(credential.certificatePEM)[0].derBytes
            #expect(KeyStrength.problem(certificateDER: der) == nil)
        }
        #expect(KeyStrength.problem(certificateDER: [0x30, 0x03, 0x02, 0x01, 0x01]) == nil, "garbage is not a weak key")
    }
}

/// Runs `openssl` and returns its standard output; throws ``OpenSSLFailure`` on a non-zero exit.
@discardableResult
private func run(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: OpenSSLInteropTests.openssl)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw OpenSSLFailure(arguments: arguments, status: process.terminationStatus, output: text)
    }
    return text
}

private func write(_ text: String, to directory: URL, name: String) throws -> String {
    let url = directory.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

private func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("DeviceIdentityTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

private func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("DeviceIdentityTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}
