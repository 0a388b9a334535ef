import ArgumentParser
import Foundation
import IoTSQL
import Rules

struct RuleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule",
        abstract: "Topic rules: check and try them offline, create, list and delete them on the running gateway.",
        discussion: """
            A rule file is a TopicRulePayload as CreateTopicRule takes it ({"sql": ..., "actions": [...], ...}).
            `lint` and `test` need no gateway: they run the compiler and SQL engine the gateway runs rules
            with. `create`, `list` and `delete` go through the running gateway's API (the admin profile in
            DATA_DIR/admin), in its default account and region.
            """,
        subcommands: [Lint.self, Test.self, Create.self, List.self, Delete.self]
    )

    static func payload(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("\(path) is not a JSON object (a TopicRulePayload)")
        }
        return (object["topicRulePayload"] as? [String: Any]) ?? object
    }

    static func compile(_ name: String, _ payload: [String: Any]) throws(TopicRuleError) -> CompiledTopicRule {
        try TopicRuleCompiler.compile(name: name, sql: payload["sql"] as? String ?? "", version: payload["awsIotSqlVersion"] as? String,
                                      actions: payload["actions"], errorAction: payload["errorAction"],
                                      disabled: payload["ruleDisabled"] as? Bool ?? false)
    }

    struct Lint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lint",
            abstract: "Check rule files as CreateTopicRule does; print each problem (SqlParseException with its position).",
            discussion: "Exits 0 when every file is valid, 1 otherwise.")

        @Argument(help: "Rule files (JSON TopicRulePayloads).")
        var files: [String]

        func run() async throws {
            var failed = false
            for file in files {
                do {
                    let rule = try RuleCommand.compile("lint", try RuleCommand.payload(file))
                    let from = rule.statement.topicFilter.map { "FROM '\($0)'" } ?? "Basic Ingest only"
                    print("\(file): ok (SQL \(rule.statement.version.rawValue), \(from), \(rule.actions.count) action\(rule.actions.count == 1 ? "" : "s"))")
                } catch let error as TopicRuleError {
                    print("\(file): \(error.awsErrorType): \(error.message)")
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Run a rule on one message, offline: print the SQL's result and what each action would do.",
            discussion: """
                Exits 0 when the rule takes the message (FROM matches and WHERE holds), 2 when it does not, 1 on
                errors. get_thing_shadow sees no shadow offline (Undefined).
                """)

        @Argument(help: "Rule file (a JSON TopicRulePayload).")
        var file: String

        @Option(name: .long, help: "The message's topic.")
        var topic: String

        @Option(name: .long, help: "The message's payload (text; JSON for most rules).")
        var payload: String = "{}"

        @Option(name: .long, help: "The publishing client's id (clientid()).")
        var clientID: String?

        func run() async throws {
            let rule: CompiledTopicRule
            do {
                rule = try RuleCommand.compile("test", try RuleCommand.payload(file))
            } catch let error as TopicRuleError {
                print("\(error.awsErrorType): \(error.message)")
                throw ExitCode(1)
            }
            let set = RuleSet([rule])
            guard let (_, seen) = set.matching(topic: topic).first else {
                print("not taken: the FROM filter '\(rule.statement.topicFilter ?? "")' does not match \(topic)")
                throw ExitCode(2)
            }
            let message = SQLMessage(topic: seen, payload: Array(payload.utf8), clientID: clientID, timestamp: Int64(Date().timeIntervalSince1970 * 1000),
                                     traceID: UUID().uuidString.lowercased(), accountID: "123456789012")
            guard let outcome = rule.statement.evaluate(message) else {
                print("not taken: WHERE is not true for this message")
                throw ExitCode(2)
            }
            print("result: \(String(decoding: outcome.payload, as: UTF8.self))")
            for action in rule.actions {
                switch action.request(outcome, message: message) {
                case .success(let request): print("\(action.type): \(describe(request))")
                case .failure(let failure): print("\(action.type): fails: \(failure.errorMessage)")
                }
            }
        }

        func describe(_ request: ActionRequest) -> String {
            switch request {
            case .republish(let r): "publish to \(r.topic) at QoS \(r.qos)"
            case .http(let post): "POST \(post.url)\(post.batch == nil ? "" : " (batched)") with \(post.headers.map { "\($0.name): \($0.value)" }.joined(separator: ", "))"
            case .log(let group, let events): "\(events.count) log line\(events.count == 1 ? "" : "s") in \(group)"
            case .dynamoDB(let table, let operation, let item): "\(operation) into table \(table), key \(item.first.map { "\($0.name)=\(SQLJSON.text($0.value))" } ?? "")"
            case .dynamoDBv2(let table, let item): "put into table \(table) with \(item.keys.joined(separator: ", "))"
            case .s3(let bucket, let key, let body): "object \(bucket)/\(key) (\(body.count) bytes)"
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a rule on the running gateway (CreateTopicRule), or replace it (ReplaceTopicRule) with --replace.")

        @Argument(help: "Rule name (letters, digits and underscores).")
        var name: String

        @Argument(help: "Rule file (a JSON TopicRulePayload).")
        var file: String

        @Flag(name: .long, help: "If the rule exists, replace it.")
        var replace = false

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let payload = try RuleCommand.payload(file)
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            let path = "/rules/\(AdminAPIClient.encode(name))"
            let replace = self.replace
            let verb: String = try await DeviceCommand.run {
                do {
                    _ = try await api.call("POST", path, body: payload)
                    return "created"
                } catch let error as AdminAPIClient.Failure where replace && error.errorType == "ResourceAlreadyExistsException" {
                    _ = try await api.call("PATCH", path, body: payload)
                    return "replaced"
                }
            }
            print("rule \(name) \(verb)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the rules (ListTopicRules): name, state and FROM filter.")

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            var token: String?
            repeat {
                let query = token.map { "nextToken=\(AdminAPIClient.encode($0))" } ?? ""
                let page = try await DeviceCommand.run { try await api.call("GET", "/rules", query: query) }
                for rule in page["rules"] as? [[String: Any]] ?? [] {
                    let state = (rule["ruleDisabled"] as? Bool ?? false) ? "disabled" : "enabled"
                    print("\(rule["ruleName"] as? String ?? "?")\t\(state)\t\(rule["topicPattern"] as? String ?? "(Basic Ingest only)")")
                }
                token = page["nextToken"] as? String
            } while token != nil
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete rules (DeleteTopicRule).")

        @Argument(help: "Rule names.")
        var names: [String]

        @Option(name: .long, help: "Data folder of the running gateway (default: ./portcullis-data or PORTCULLIS_DATA_DIR).")
        var dataDir: String?

        func run() async throws {
            let api = try DeviceCommand.api(DeviceCommand.dataDirectory(dataDir))
            for name in names {
                _ = try await DeviceCommand.run { try await api.call("DELETE", "/rules/\(AdminAPIClient.encode(name))") }
                print("rule \(name) deleted")
            }
        }
    }
}
