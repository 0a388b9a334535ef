import ArgumentParser
import Broker
import DeviceIdentity
import Foundation
import Logging
import Gateway
import PortcullisServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway.",
        discussion: """
            Settings come from defaults, then the JSON file given by --config (or PORTCULLIS_CONFIG), then the
            environment (PORTCULLIS_DATA_DIR, PORTCULLIS_MQTT_LISTEN, PORTCULLIS_SHARED_LISTEN, PORTCULLIS_API_LISTEN,
            PORTCULLIS_API_ACCESS_KEY_ID, PORTCULLIS_API_SECRET_ACCESS_KEY, PORTCULLIS_TLS_SECURITY_POLICY,
            PORTCULLIS_LOG_LEVEL), then these flags.
            `portcullis config print-default` prints every key with its default.

            On first start the data folder gets a local root CA and server certificates (ECDSA and RSA) for
            localhost, 127.0.0.1, ::1 and any --host-name (replaced files are picked up without a restart), and an admin access key for the API (admin/credentials, an
            AWS shared credentials file; admin/config holds the matching profile "portcullis"). Logs are
            JSON lines on standard output, IoT events in the AWS IoT log format.
            """
    )

    @Option(name: .long, help: "JSON configuration file.")
    var config: String?

    @Option(name: .long, help: "Data folder (default: ./portcullis-data).")
    var dataDir: String?

    @Option(name: .long, help: "MQTT over TLS listen address host:port; repeat for several (default: 0.0.0.0:8883).")
    var mqttListen: [String] = []

    @Option(name: .long, help: "Shared port like AWS's 443 (MQTT by ALPN x-amzn-mqtt-ca, HTTPS iot-data, MQTT over WebSocket at /mqtt) host:port; repeat for several, 'none' for none (default: 0.0.0.0:8443).")
    var sharedListen: [String] = []

    @Option(name: .long, help: "AWS-compatible API (HTTPS, SigV4) listen address host:port; repeat for several, 'none' for no API (default: 127.0.0.1:9443).")
    var apiListen: [String] = []

    @Option(name: .long, help: "Extra DNS name or IP address for the server certificate; repeatable.")
    var hostName: [String] = []

    @Option(name: .long, help: "TLS security policy of the MQTT listeners, as AWS names them (default: IoTSecurityPolicy_TLS13_1_2_2022_10; see the README).")
    var tlsSecurityPolicy: String?

    @Option(name: .long, help: "Log level: debug, info, warn, error, disabled.")
    var logLevel: String?

    @Option(name: .long, help: "Write the bound addresses as JSON to this file once listening (for scripts).")
    var readyFile: String?

    func run() async throws {
        var configuration: PortcullisConfiguration
        do {
            configuration = try ConfigurationLoader.load(file: config)
        } catch {
            throw ValidationError("\(error)")
        }
        if let dataDir { configuration.dataDirectory = dataDir }
        if !mqttListen.isEmpty { configuration.mqttListen = mqttListen }
        if !apiListen.isEmpty { configuration.apiListen = apiListen == ["none"] ? [] : apiListen }
        if !sharedListen.isEmpty { configuration.sharedListen = sharedListen == ["none"] ? [] : sharedListen }
        if !hostName.isEmpty { configuration.serverHostNames += hostName }
        if let tlsSecurityPolicy {
            guard let policy = TLSSecurityPolicy(name: tlsSecurityPolicy) else {
                throw ValidationError("--tls-security-policy: \(TLSSecurityPolicy.unknownNameMessage(tlsSecurityPolicy))")
            }
            configuration.tlsSecurityPolicy = policy
        }
        if let logLevel {
            guard let level = IoTLogLevelParser.parse(logLevel) else {
                throw ValidationError("--log-level: expected one of debug, info, warn, error, disabled")
            }
            configuration.logLevel = level
        }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }

        let level = PortcullisServer.swiftLogLevel(configuration.logLevel)
        LoggingSystem.bootstrap { label in JSONLineLogHandler(label: label, level: level) }
        let logger = Logger(label: "portcullis")

        let server = try PortcullisServer(configuration: configuration, logger: logger)
        printBanner(server)
        Task {
            // Reported once bound, so port 0 shows the port the system chose.
            var bound: [(String, Int)] = []
            for listener in server.listeners {
                if let address = try? await listener.boundAddress {
                    bound.append((address.ipAddress ?? "", address.port ?? 0))
                }
            }
            guard !bound.isEmpty else { return }
            var api: [(String, Int)] = []
            for controlPlane in server.controlPlanes {
                if let address = try? await controlPlane.boundAddress {
                    api.append((address.ipAddress ?? "", address.port ?? 0))
                }
            }
            var shared: [(String, Int)] = []
            for port in server.sharedPorts {
                if let address = try? await port.boundAddress {
                    shared.append((address.ipAddress ?? "", address.port ?? 0))
                }
            }
            if let first = api.first {
                let host = ["0.0.0.0", "127.0.0.1", "::", "::1"].contains(first.0) ? "localhost" : first.0
                try? server.dataDirectory.writeAdminProfile(region: server.configuration.region,
                                                            endpointURL: "https://\(host.contains(":") ? "[\(host)]" : host):\(first.1)")
            }
            printListening(server, bound: bound, shared: shared, api: api)
            if let readyFile {
                func list(_ addresses: [(String, Int)]) -> String {
                    addresses.map { "{\"host\":\"\($0.0)\",\"port\":\($0.1)}" }.joined(separator: ",")
                }
                let json = "{\"mqtt\":[\(list(bound))],\"shared\":[\(list(shared))],\"api\":[\(list(api))],\"dataDirectory\":\(JSONText.quoted(server.dataDirectory.root.path))}\n"
                // Written then renamed, so a reader never sees half a file.
                _ = FileManager.default.createFile(atPath: readyFile + ".tmp", contents: Data(json.utf8))
                _ = rename(readyFile + ".tmp", readyFile)
            }
        }
        try await server.run()
    }

    func printBanner(_ server: PortcullisServer) {
        let data = server.dataDirectory
        var lines: [String] = []
        if server.preparation.createdCA {
            lines += [
                "Portcullis: first start, created a local certificate authority in \(data.root.path)",
                "  root CA certificate : \(data.caCertificatePath)   (give this to devices as their CA file)",
                "  root CA private key : \(data.caKeyPath)   (keep secret; it signs device certificates)",
            ]
        }
        if server.preparation.issuedServerCertificate {
            lines.append("  server certificate  : \(data.serverCertificatePath)  (key: \(data.serverKeyPath))")
        }
        if !lines.isEmpty { FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8)) }
    }

    func printListening(_ server: PortcullisServer, bound: [(String, Int)], shared: [(String, Int)], api: [(String, Int)]) {
        let data = server.dataDirectory
        func show(_ list: [(String, Int)]) -> String {
            list.map { $0.0.contains(":") ? "[\($0.0)]:\($0.1)" : "\($0.0):\($0.1)" }.joined(separator: ", ")
        }
        var lines = ["Portcullis: MQTT over mutual TLS on \(show(bound)), data in \(data.root.path)"]
        if !shared.isEmpty {
            lines.append("Portcullis: shared port (MQTT by ALPN x-amzn-mqtt-ca, HTTPS iot-data, MQTT over WebSocket at /mqtt) on \(show(shared))")
        }
        if !api.isEmpty {
            lines.append("Portcullis: AWS IoT API (HTTPS, SigV4) on \(show(api))")
            if server.adminCredentials?.generated == true {
                lines.append("  admin access key    : \(data.adminCredentialsPath)   (keep secret; profile \"\(AdminCredentials.profile)\")")
            }
            if server.adminCredentials?.configured != true {
                lines += [
                    "  AWS_SHARED_CREDENTIALS_FILE=\(ClientRecipe.quoted(data.adminCredentialsPath)) AWS_CONFIG_FILE=\(ClientRecipe.quoted(data.adminConfigPath)) \\",
                    "    aws --profile \(AdminCredentials.profile) iot describe-endpoint",
                ]
            }
        }
        // The device commands sign with the admin profile the data folder holds; with keys from the
        // configuration there is none, and nothing is printed that would fail.
        if server.preparation.createdCA, let mqtt = bound.first, !api.isEmpty, server.adminCredentials?.configured != true {
            // Every line works pasted in order into one shell (a test does exactly that): the message is
            // retained on the exact topic, so it reaches the subscriber whichever of the two runs first.
            let host = ClientRecipe.connectHost(bound: mqtt.0)
            let program = ClientRecipe.program
            let dir = ClientRecipe.quoted(data.root.path)
            func files(_ name: String) -> ClientRecipe.Files {
                let folder = URL(fileURLWithPath: data.devicesPath).appendingPathComponent(name).path
                return .init(ca: folder + "/root-ca.pem", certificate: folder + "/\(name).cert.pem", key: folder + "/\(name).private.key")
            }
            let subscribe = ClientRecipe.mosquitto("mosquitto_sub", host: host, port: mqtt.1, version: "mqttv5", clientID: "my-device",
                                                   topic: "hello/world", files: files("my-device"))
            let publish = ClientRecipe.mosquitto("mosquitto_pub", host: host, port: mqtt.1, version: "mqttv311", clientID: "other-device",
                                                 topic: "hello/world", message: "hi", retain: true, files: files("other-device"))
            lines += [
                "Connect two devices (in another terminal, with Debian's mosquitto-clients):",
                "  \(program) device create my-device --data-dir \(dir)",
                "  \(program) device create other-device --data-dir \(dir)",
                "  " + subscribe.replacingOccurrences(of: "\n", with: "\n  ") + " &",
                "  " + publish.replacingOccurrences(of: "\n", with: "\n  "),
            ]
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
