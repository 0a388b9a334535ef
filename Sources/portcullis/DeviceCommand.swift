import ArgumentParser
import Foundation
import PortcullisServer

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Devices: credentials from the gateway's CA, registered through its API.",
        discussion: """
            Every command talks to the running gateway's API (the admin profile in DATA_DIR/admin), so
            `portcullis serve` must be running with its API enabled. The same operations are available
            to awscli and boto3: see the README.
            """,
        subcommands: [Create.self, Mint.self, List.self, Revoke.self]
    )

    /// The data folder named by --data-dir, PORTCULLIS_DATA_DIR or the default.
    static func dataDirectory(_ option: String?) -> DataDirectory {
        DataDirectory(path: option ?? ProcessInfo.processInfo.environment["PORTCULLIS_DATA_DIR"] ?? PortcullisConfiguration().dataDirectory)
    }

    static func api(_ data: DataDirectory) throws -> AdminAPIClient {
        do {
            return try AdminAPIClient(data: data)
        } catch let error as AdminAPIClient.Failure {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Runs an API call, turning its AWS error into a CLI message.
    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AdminAPIClient.Failure {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The policy `device create` attaches when no --policy is named: the device connects with its thing
    /// name as client id only, and may publish, subscribe and receive on any topic.
    static let quickstartPolicyName = "portcullis-quickstart"
    static let quickstartPolicyDocument = quickstartDocument(
        connectSid: "ConnectAsThingName", connectResource: "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}")

    /// Connect with one client id (the resource), publish, subscribe and receive on any topic.
    static func quickstartDocument(connectSid: String, connectResource: String) -> String {
        #"{"Version":"2012-10-17","Statement":["#
            + #"{"Sid":"\#(connectSid)","Effect":"Allow","Action":"iot:Connect","Resource":"\#(connectResource)"},"#
            + #"{"Sid":"PublishAndReceive","Effect":"Allow","Action":["iot:Publish","iot:RetainPublish","iot:Receive"],"Resource":"arn:aws:iot:*:*:topic/*"},"#
            + #"{"Sid":"Subscribe","Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/*"}]}"#
    }

    /// The policy `device mint` attaches when no --policy is named: a minted certificate has no thing, so
    /// the device connects with its certificate's common name (the NAME given to mint) as client id.
    static let mintQuickstartPolicyName = "portcullis-quickstart-cn"
    static let mintQuickstartPolicyDocument = quickstartDocument(
        connectSid: "ConnectAsCommonName", connectResource: "arn:aws:iot:*:*:client/${iot:Certificate.Subject.CommonName}")

    /// Creates a quick-start policy unless it exists (as the user may have changed it, it is never overwritten).
    static func ensurePolicy(_ api: AdminAPIClient, name: String, document: String) async throws {
        let path = "/policies/\(name)"
        do {
            _ = try await api.call("GET", path)
        } catch let error as AdminAPIClient.Failure where error.errorType == "ResourceNotFoundException" {
            do {
                _ = try await api.call("POST", path, body: ["policyDocument": document])
            } catch let error as AdminAPIClient.Failure where error.errorType == "ResourceAlreadyExistsException" {
                // Another `device` command made it meanwhile.
            }
        }
    }

    /// Where a device on this machine reaches the running gateway's MQTT listener, as the API reports it
    /// (`GET /portcullis/listeners`); nil (with a note) when it cannot say or has no MQTT listener, so
    /// that no command is printed that would not work.
    static func mqttTarget(_ api: AdminAPIClient) async -> (host: String, port: Int)? {
        guard let answer = try? await api.call("GET", "/portcullis/listeners"),
              let first = (answer["mqtt"] as? [[String: Any]])?.first, let port = first["port"] as? Int else {
            FileHandle.standardError.write(Data("note: the gateway did not say where its MQTT listener is (none configured?): no client command printed\n".utf8))
            return nil
        }
        return (ClientRecipe.connectHost(bound: first["host"] as? String ?? ""), port)
    }

    /// The mosquitto_pub line a device can run as printed, or nothing when the listener is unknown.
    static func publishRecipe(_ api: AdminAPIClient, clientID: String, files: DataDirectory.DeviceFiles) async -> String {
        guard let target = await mqttTarget(api) else { return "" }
        return "\n\n" + ClientRecipe.mosquitto("mosquitto_pub", host: target.host, port: target.port, version: "mqttv311",
                                              clientID: clientID, topic: "hello/world", message: "hi", files: .init(files))
    }

    /// The AWS getting-started flow in one command: a thing, an RSA key pair and an ACTIVE certificate
    /// from the gateway's CA, the certificate attached to the thing (and to a policy if named).
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a thing with a new key pair and an ACTIVE certificate, and write the files the device needs.",
            discussion: """
                Does what CreateThing, CreateKeysAndCertificate (setAsActive), AttachThingPrincipal and
                AttachPolicy do, and writes NAME.cert.pem, NAME.private.key (mode 0600) and root-ca.pem into
                --out (default: DATA_DIR/devices/NAME). Use NAME as the MQTT client id.
                Without --policy the certificate gets the policy portcullis-quickstart (created on first use,
                never overwritten): connect with the thing name as client id, publish, subscribe and receive
                on any topic. Policies are enforced: a device may do only what its policies allow.
                """
        )

        @Argument(help: "Thing name (letters, digits, :_-), also the suggested client id.")
        var name: String

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        @Option(name: .long, help: "Folder to write the files to.")
        var out: String?

        @Option(name: .long, help: "Name of an existing policy to attach to the certificate (default: portcullis-quickstart).")
        var policy: String?

        func run() async throws {
            let data = DeviceCommand.dataDirectory(dataDir)
            let api = try DeviceCommand.api(data)
            let name = self.name
            let policy = self.policy ?? DeviceCommand.quickstartPolicyName
            let quickstart = self.policy == nil
            let thingPath = "/things/\(AdminAPIClient.encode(name))"
            let (id, arn, pem, key) = try await DeviceCommand.run {
                // Everything that can be refused is checked before anything is created.
                if quickstart {
                    try await DeviceCommand.ensurePolicy(api, name: DeviceCommand.quickstartPolicyName,
                                                         document: DeviceCommand.quickstartPolicyDocument)
                }
                _ = try await api.call("GET", "/policies/\(AdminAPIClient.encode(policy))")
                let thingExisted = (try? await api.call("GET", thingPath)) != nil
                _ = try await api.call("POST", thingPath, body: [:])
                let created = try await api.call("POST", "/keys-and-certificate", query: "setAsActive=true")
                guard let id = created["certificateId"] as? String, let arn = created["certificateArn"] as? String,
                      let pem = created["certificatePem"] as? String,
                      let key = (created["keyPair"] as? [String: Any])?["PrivateKey"] as? String else {
                    throw AdminAPIClient.Failure(description: "the API answered CreateKeysAndCertificate without a certificate")
                }
                do {
                    _ = try await api.call("PUT", "\(thingPath)/principals", headers: [("x-amzn-principal", arn)])
                    _ = try await api.call("PUT", "/target-policies/\(AdminAPIClient.encode(policy))", body: ["target": arn])
                } catch {
                    // Leave no ACTIVE certificate whose key nobody has, and no thing this command made.
                    _ = try? await api.call("DELETE", "\(thingPath)/principals", headers: [("x-amzn-principal", arn)])
                    _ = try? await api.call("PUT", "/certificates/\(id)", query: "newStatus=INACTIVE")
                    _ = try? await api.call("DELETE", "/certificates/\(id)", query: "forceDelete=true")
                    if !thingExisted { _ = try? await api.call("DELETE", thingPath) }
                    throw error
                }
                return (id, arn, pem, key)
            }
            let folder = out ?? URL(fileURLWithPath: data.devicesPath).appendingPathComponent(name).path
            let files = try data.writeDeviceFiles(name: name, certificatePEM: pem, privateKeyPEM: key, certificateID: id, directory: folder)
            let recipe = await DeviceCommand.publishRecipe(api, clientID: name, files: files)
            print("""
                thing          : \(name)
                policy         : \(policy)
                certificate id : \(id)
                certificate arn: \(arn)
                certificate    : \(files.certificatePath)
                private key    : \(files.privateKeyPath)
                CA certificate : \(files.caPath)
                """ + recipe)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the registered certificates: id, status and the things they are attached to.")

        @Option(name: .long, help: "Data folder of the running gateway.")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            try await DeviceCommand.run {
                var marker: String?
                repeat {
                    let page = try await api.call("GET", "/certificates",
                                                  query: "isAscendingOrder=true" + (marker.map { "&marker=\(AdminAPIClient.encode($0))" } ?? ""))
                    for certificate in page["certificates"] as? [[String: Any]] ?? [] {
                        let id = certificate["certificateId"] as? String ?? ""
                        let arn = certificate["certificateArn"] as? String ?? ""
                        let things = try await api.call("GET", "/principals/things", headers: [("x-amzn-principal", arn)])["things"] as? [String] ?? []
                        print("\(id)  \((certificate["status"] as? String ?? "").padding(toLength: 18, withPad: " ", startingAt: 0))  \(things.joined(separator: ","))")
                    }
                    marker = page["nextMarker"] as? String
                } while marker != nil
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a certificate (UpdateCertificate REVOKED): its connections close at once and it can never connect again.")

        @Argument(help: "Certificate id (64 hex digits).")
        var certificateID: String

        @Option(name: .long, help: "Data folder of the running gateway.")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let id = certificateID
            try await DeviceCommand.run {
                _ = try await api.call("PUT", "/certificates/\(AdminAPIClient.encode(id))", query: "newStatus=REVOKED")
            }
            print("revoked \(id)")
        }
    }

    struct Mint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mint",
            abstract: "Issue a device certificate (P-256) from the gateway's CA and register it ACTIVE, without a thing.",
            discussion: """
                Writes NAME.cert.pem, NAME.private.key (mode 0600) and root-ca.pem into --out (default:
                DATA_DIR/devices/NAME), registers the certificate ACTIVE through the running gateway's API
                (RegisterCertificate) and prints the certificate id (the SHA-256 of the certificate, the
                principal that appears in logs and lifecycle events). Use NAME as the MQTT client id.
                Policies are enforced: without --policy the certificate gets portcullis-quickstart-cn
                (created on first use, never overwritten): connect with the certificate's common name
                (NAME) as client id, publish, subscribe and receive on any topic. --no-policy attaches
                none; the certificate then cannot connect until a policy is attached (AttachPolicy).
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

        @Option(name: .long, help: "Name of an existing policy to attach to the certificate (repeat for several, at most 10; default: portcullis-quickstart-cn).")
        var policy: [String] = []

        @Flag(name: .long, help: "Attach no policy (the certificate cannot connect until one is attached).")
        var noPolicy = false

        func validate() throws {
            if noPolicy && !policy.isEmpty { throw ValidationError("--no-policy and --policy exclude each other") }
            guard policy.count <= 10 else { throw ValidationError("at most 10 policies can be attached to a certificate") }
        }

        func run() async throws {
            let data = DeviceCommand.dataDirectory(dataDir)
            let api = try DeviceCommand.api(data)
            let policies = noPolicy ? [] : policy.isEmpty ? [DeviceCommand.mintQuickstartPolicyName] : policy
            if !noPolicy && policy.isEmpty {
                try await DeviceCommand.run {
                    try await DeviceCommand.ensurePolicy(api, name: DeviceCommand.mintQuickstartPolicyName,
                                                         document: DeviceCommand.mintQuickstartPolicyDocument)
                }
            }
            for policy in policies {
                _ = try await DeviceCommand.run { try await api.call("GET", "/policies/\(AdminAPIClient.encode(policy))") }
            }
            let files: DataDirectory.DeviceFiles
            do {
                files = try data.mintDevice(name: name, validityDays: days, directory: out)
            } catch let error as ConfigurationError {
                throw ValidationError(error.problems.joined(separator: "; "))
            }
            let pem = try String(contentsOfFile: files.certificatePath, encoding: .utf8)
            do {
                let registered = try await api.call("POST", "/certificate/register", body: ["certificatePem": pem, "status": "ACTIVE"])
                if let arn = registered["certificateArn"] as? String {
                    for policy in policies {
                        _ = try await api.call("PUT", "/target-policies/\(AdminAPIClient.encode(policy))", body: ["target": arn])
                    }
                }
            } catch let error as AdminAPIClient.Failure {
                // A certificate the gateway does not know is of no use: leave nothing behind.
                try? FileManager.default.removeItem(atPath: files.certificatePath)
                try? FileManager.default.removeItem(atPath: files.privateKeyPath)
                FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                throw ExitCode(1)
            }
            let lines = [
                "certificate id : \(files.certificateID)",
                "certificate    : \(files.certificatePath)",
                "private key    : \(files.privateKeyPath)",
                "CA certificate : \(files.caPath)",
                "policies       : \(policies.isEmpty ? "none" : policies.joined(separator: ", "))",
            ]
            if policies.isEmpty {
                // Nothing to paste that would work: say what is missing instead.
                FileHandle.standardError.write(Data("note: no policy is attached; the device cannot connect until one is (aws iot attach-policy)\n".utf8))
                print(lines.joined(separator: "\n"))
                return
            }
            print(lines.joined(separator: "\n") + (await DeviceCommand.publishRecipe(api, clientID: name, files: files)))
        }
    }
}

extension ClientRecipe.Files {
    init(_ files: DataDirectory.DeviceFiles) {
        self.init(ca: files.caPath, certificate: files.certificatePath, key: files.privateKeyPath)
    }
}
