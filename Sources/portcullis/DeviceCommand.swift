import ArgumentParser
import Foundation
import PortcullisServer

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Device credentials signed by the local CA.",
        subcommands: [Mint.self]
    )

    struct Mint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mint",
            abstract: "Issue a device certificate and key signed by the gateway's local CA.",
            discussion: """
                Writes NAME.cert.pem, NAME.private.key (mode 0600) and root-ca.pem into --out (default:
                DATA_DIR/devices/NAME) and prints the certificate id (the SHA-256 of the certificate, the
                principal that appears in logs and lifecycle events). Use NAME as the MQTT client id.
                """
        )

        @Argument(help: "Device name: the certificate's common name and the suggested client id.")
        var name: String

        @Option(name: .long, help: "Data folder of the gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        @Option(name: .long, help: "Folder to write the files to.")
        var out: String?

        @Option(name: .long, help: "Validity in days.")
        var days: Int = 365

        func run() async throws {
            let path = dataDir ?? ProcessInfo.processInfo.environment["PORTCULLIS_DATA_DIR"] ?? PortcullisConfiguration().dataDirectory
            let data = DataDirectory(path: path)
            let files: DataDirectory.DeviceFiles
            do {
                files = try data.mintDevice(name: name, validityDays: days, directory: out)
            } catch let error as ConfigurationError {
                throw ValidationError(error.problems.joined(separator: "; "))
            }
            print("""
                certificate id : \(files.certificateID)
                certificate    : \(files.certificatePath)
                private key    : \(files.privateKeyPath)
                CA certificate : \(files.caPath)

                mosquitto_pub -h localhost -p 8883 -i \(name) -t hello/world -m hi -q 1 \\
                  --cafile \(files.caPath) --cert \(files.certificatePath) --key \(files.privateKeyPath)
                """)
        }
    }
}
