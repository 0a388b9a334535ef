import ArgumentParser
import DeviceIdentity
import Foundation
import IoTPolicy
import PortcullisServer
import Registry

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "IoT policies: check and try documents offline, create them on the running gateway.",
        discussion: """
            `lint` and `test` need no gateway: they run the same parser and engine the gateway enforces
            with. `create` goes through the running gateway's API (the admin profile in DATA_DIR/admin).
            """,
        subcommands: [Lint.self, Test.self, Create.self]
    )

    static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read \(path)")
        }
        return text
    }

    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lint",
            abstract: "Check policy documents as CreatePolicy does; print each problem with its JSON path.",
            discussion: "Exits 0 when every document is valid, 1 otherwise.")

        @Argument(help: "Policy document files (JSON).")
        var files: [String]

        func run() async throws {
            var failed = false
            for file in files {
                do {
                    let document = try PolicyDocument.parse(try PolicyCommand.read(file))
                    print("\(file): ok (\(document.statements.count) statement\(document.statements.count == 1 ? "" : "s"))")
                } catch let error as PolicyParseError {
                    print("\(file): MalformedPolicyException: \(error)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Decide one request against policy documents, offline, and explain the decision.",
            discussion: """
                Prints ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY, which policy and statement decided (with the
                variable values substituted), and the context values a statement needed but did not have.
                The resource is an ARN, or a bare client id / topic / topic filter / thing name that is put
                under the action's resource type (arn:aws:iot:REGION:ACCOUNT:topic/...). Exits 0 when
                allowed, 2 when denied, 1 on errors.

                Example:
                  portcullis policy test lamp.json --action iot:Publish --resource lamp/state \\
                    --client-id lamp --context iot:Connection.Thing.ThingName=lamp
                """)

        @Argument(help: "Policy document files (JSON); their statements are evaluated together, as attached policies are.")
        var files: [String]

        @Option(name: .long, help: "The action, e.g. iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish.")
        var action: String

        @Option(name: .long, help: "The resource ARN, or a bare name under the action's resource type.")
        var resource: String

        @Option(name: .long, help: "The MQTT client id (iot:ClientId).")
        var clientID: String?

        @Option(name: .long, help: "A context value KEY=VALUE (repeat a key for a multi-valued key), e.g. aws:SourceIp=10.0.0.7.")
        var context: [String] = []

        @Option(name: .long, help: "A device certificate (PEM) whose Subject, Issuer, alternative names and serial fill the iot:Certificate.* variables.")
        var certificate: String?

        @Option(name: .long, help: "The request time, ISO 8601 (default: now), for aws:CurrentTime and aws:EpochTime.")
        var time: String?

        @Option(name: .long, help: "Region for bare resources.")
        var region = "us-east-1"

        @Option(name: .long, help: "Account id for bare resources.")
        var account = "123456789012"

        func run() async throws {
            guard let iotAction = IoTAction.allCases.first(where: { $0.rawValue.lowercased() == action.lowercased() }) else {
                throw ValidationError("unknown action \(action); one of \(IoTAction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var policies: [NamedPolicy] = []
            for file in files {
                do {
                    let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
                    policies.append(NamedPolicy(name: name, document: try PolicyDocument.parse(try PolicyCommand.read(file))))
                } catch let error as PolicyParseError {
                    throw ValidationError("\(file): MalformedPolicyException: \(error)")
                }
            }
            var values: [String: [String]] = [:]
            var order: [String] = []
            for pair in context {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw ValidationError("--context takes KEY=VALUE, not \(pair)")
                }
                let key = String(pair[..<equals])
                if values[key] == nil { order.append(key) }
                values[key, default: []].append(String(pair[pair.index(after: equals)...]))
            }
            var authorizationContext = AuthorizationContext()
            if let certificate {
                do {
                    CertificateFields.add(try PEM.parseCertificate(pem: try PolicyCommand.read(certificate)), to: &authorizationContext)
                } catch let error as ValidationError {
                    throw error
                } catch {
                    throw ValidationError("\(certificate): not a PEM certificate (\(error))")
                }
            }
            if let clientID { authorizationContext.set("iot:ClientId", clientID) }
            for key in order { authorizationContext.set(key, values: values[key]!) }
            var now = Date()
            if let time {
                guard let parsed = ISO8601DateFormatter().date(from: time) else { throw ValidationError("--time must be ISO 8601, e.g. 2026-12-01T12:00:00Z") }
                now = parsed
            }
            let prefix = "arn:aws:iot:\(region):\(account):"
            let arn = resource.hasPrefix("arn:") ? resource : prefix + iotAction.resourceType + resource
            let decision = ConnectionAuthorizer(policies: CompiledPolicySet(policies: policies, context: authorizationContext))
                .decide(iotAction, resource: arn, now: now)
            print(decision.effect.rawValue)
            print(decision.explanation(action: iotAction, resource: arn, policyCount: policies.count))
            if !decision.missingContextValues.isEmpty {
                print("missing context values: " + decision.missingContextValues.joined(separator: ", "))
            }
            if !decision.isAllowed { throw ExitCode(2) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a policy on the running gateway (CreatePolicy), or a new default version of an existing one.",
            discussion: "With --set-default an existing policy gets the document as its new default version (CreatePolicyVersion).")

        @Argument(help: "Policy name.")
        var name: String

        @Argument(help: "Policy document file (JSON).")
        var file: String

        @Flag(name: .long, help: "If the policy exists, add the document as its new default version.")
        var setDefault = false

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let document = try PolicyCommand.read(file)
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let path = "/policies/\(AdminAPIClient.encode(name))"
            let setDefault = self.setDefault
            let version: String = try await DeviceCommand.run {
                do {
                    let created = try await api.call("POST", path, body: ["policyDocument": document])
                    return created["policyVersionId"] as? String ?? "1"
                } catch let error as AdminAPIClient.Failure where setDefault && error.errorType == "ResourceAlreadyExistsException" {
                    let created = try await api.call("POST", "\(path)/version", query: "setAsDefault=true", body: ["policyDocument": document])
                    return created["policyVersionId"] as? String ?? "?"
                }
            }
            print("policy \(name) version \(version)")
        }
    }
}
