import ArgumentParser
import Foundation
import PortcullisServer

struct AccessKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-key",
        abstract: "Data-plane access keys: SigV4 keys for iot-data (HTTPS publish, retained messages, connections), authorized by IoT policies.",
        discussion: """
            A key created here may call iot-data operations only, each checked against the IoT policies
            attached to it (iot:Publish and iot:RetainPublish on topic/..., iot:GetRetainedMessage,
            iot:ListRetainedMessages on *, iot:GetConnection, iot:DeleteConnection, iot:ListSubscriptions
            and iot:SendDirectMessage on client/...), as AWS checks an IAM principal's policies; the control
            plane answers it 403 AccessDeniedException. The admin key may do anything. Every command goes
            through the running gateway's API (POST/GET/DELETE /access-keys).
            """,
        subcommands: [Create.self, List.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a key with IoT policies attached; prints it as an AWS credentials profile (the secret is shown only here).")

        @Option(name: .long, help: "An IoT policy to attach (repeat, 1 to 10; the policies must exist).")
        var policy: [String] = []

        @Option(name: .long, help: "A description (at most 256 characters).")
        var description: String = ""

        @Option(name: .long, help: "The profile name in the printed credentials (default: portcullis-data-plane).")
        var profile: String = "portcullis-data-plane"

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            guard !policy.isEmpty else { throw ValidationError("--policy: attach at least one IoT policy") }
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let policies = policy, description = self.description
            let key = try await DeviceCommand.run {
                try await api.call("POST", "/access-keys", body: ["policyNames": policies, "description": description])
            }
            print("[\(profile)]")
            print("aws_access_key_id = \(key["accessKeyId"] as? String ?? "")")
            print("aws_secret_access_key = \(key["secretAccessKey"] as? String ?? "")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys and their policies (no secrets).")

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let answer = try await DeviceCommand.run { try await api.call("GET", "/access-keys") }
            for key in answer["accessKeys"] as? [[String: Any]] ?? [] {
                let names = (key["policyNames"] as? [String] ?? []).joined(separator: ",")
                print("\(key["accessKeyId"] as? String ?? "")  policies=\(names)  \(key["description"] as? String ?? "")")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key: its requests are refused from now on.")

        @Argument(help: "The access key id.")
        var accessKeyID: String

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let path = "/access-keys/\(AdminAPIClient.encode(accessKeyID))"
            _ = try await DeviceCommand.run { try await api.call("DELETE", path) }
            print("deleted \(accessKeyID)")
        }
    }
}
