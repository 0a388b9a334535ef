import Foundation
import IoTSQL

/// A rule ready to run: its SQL parsed and its actions' templates parsed, made once per rule change.
/// A class: a rule set hands the same compiled rule to every message it takes, without copying it.
public final class CompiledTopicRule: Sendable {
    public let name: String
    public let statement: SQLStatement
    public let actions: [RuleAction]
    public let errorAction: RuleAction?
    public let disabled: Bool

    init(name: String, statement: SQLStatement, actions: [RuleAction], errorAction: RuleAction?, disabled: Bool) {
        self.name = name
        self.statement = statement
        self.actions = actions
        self.errorAction = errorAction
        self.disabled = disabled
    }
}

/// Checks a TopicRulePayload (CreateTopicRule, ReplaceTopicRule) and compiles it.
public enum TopicRuleCompiler {
    /// AWS's quota of actions per rule.
    public static let maximumActions = 10

    /// The action members of botocore's Action structure and the parameters each requires.
    static let requiredParameters: [String: [String]] = [
        "dynamoDB": ["tableName", "roleArn", "hashKeyField", "hashKeyValue"], "dynamoDBv2": ["roleArn", "putItem"],
        "lambda": ["functionArn"], "sns": ["targetArn", "roleArn"], "sqs": ["roleArn", "queueUrl"], "kinesis": ["roleArn", "streamName"],
        "republish": ["roleArn", "topic"], "s3": ["roleArn", "bucketName", "key"], "firehose": ["roleArn", "deliveryStreamName"],
        "cloudwatchMetric": ["roleArn", "metricNamespace", "metricName", "metricValue", "metricUnit"],
        "cloudwatchAlarm": ["roleArn", "alarmName", "stateReason", "stateValue"], "cloudwatchLogs": ["roleArn", "logGroupName"],
        "elasticsearch": ["roleArn", "endpoint", "index", "type", "id"], "openSearch": ["roleArn", "endpoint", "index", "type", "id"],
        "salesforce": ["token", "url"], "iotAnalytics": [], "iotEvents": ["inputName", "roleArn"],
        "iotSiteWise": ["putAssetPropertyValueEntries", "roleArn"], "stepFunctions": ["stateMachineName", "roleArn"],
        "timestream": ["roleArn", "databaseName", "tableName", "dimensions"], "http": ["url"],
        "kafka": ["destinationArn", "topic", "clientProperties"], "location": ["roleArn", "trackerName", "deviceId", "latitude", "longitude"],
    ]

    /// The SQL version of a rule: `awsIotSqlVersion`, AWS's API default 2015-10-08 when absent; `beta` is
    /// served as 2016-03-23.
    public static func version(_ text: String?) throws(TopicRuleError) -> SQLVersion {
        guard let text else { return .default }
        if text == "beta" { return .v2016 }
        guard let version = SQLVersion(rawValue: text) else {
            throw TopicRuleError(.invalidRequest, "awsIotSqlVersion must be 2015-10-08, 2016-03-23 or beta.")
        }
        return version
    }

    public static func statement(_ sql: String, version: SQLVersion) throws(TopicRuleError) -> SQLStatement {
        do {
            return try SQLParser.parse(sql, version: version)
        } catch {
            throw TopicRuleError(error.kind == .syntax ? .sqlParse : .invalidRequest, error.description)
        }
    }

    public static func compile(name: String, sql: String, version: String?, actions: Any?, errorAction: Any?, disabled: Bool)
        throws(TopicRuleError) -> CompiledTopicRule
    {
        let sqlVersion = try self.version(version)
        let statement = try statement(sql, version: sqlVersion)
        guard let list = actions as? [Any] else { throw TopicRuleError(.invalidRequest, "actions must be a list of actions.") }
        guard list.count <= maximumActions else {
            throw TopicRuleError(.invalidRequest, "A rule has at most \(maximumActions) actions, not \(list.count).")
        }
        var compiled: [RuleAction] = []
        for (index, action) in list.enumerated() { compiled.append(try self.action(action, at: "actions[\(index)]", version: sqlVersion)) }
        var onError: RuleAction?
        if let errorAction, !(errorAction is NSNull) {
            let action = try self.action(errorAction, at: "errorAction", version: sqlVersion)
            // AWS: an error action may use any function except those that call out (here: the shadow).
            if let external = action.templates.flatMap(\.functions).first(where: \.isExternal) {
                throw TopicRuleError(.invalidRequest, "errorAction templates cannot call \(external.rawValue) (external functions are not allowed there).")
            }
            // AWS: "You will not be able to define a separate batching logic in your Error Action definition."
            if case .http(let http) = action, http.batch != nil {
                throw TopicRuleError(.invalidRequest, "errorAction.http cannot enable batching; an error action batches as its rule's http action does.")
            }
            onError = action
        }
        // AWS: "Rule cannot contain more than 1 get_registry_data function calls".
        let registryCalls = statement.calls(of: .get_registry_data) + compiled.flatMap(\.templates).reduce(0) { $0 + $1.calls(of: .get_registry_data) }
        guard registryCalls <= 1 else {
            throw TopicRuleError(.invalidRequest, "Rule cannot contain more than 1 get_registry_data function calls")
        }
        return CompiledTopicRule(name: name, statement: statement, actions: compiled, errorAction: onError, disabled: disabled)
    }

    static func action(_ raw: Any, at path: String, version: SQLVersion) throws(TopicRuleError) -> RuleAction {
        guard let object = raw as? [String: Any], object.count == 1, let (type, value) = object.first else {
            throw TopicRuleError(.invalidRequest, "\(path) must name exactly one action type.")
        }
        guard let required = requiredParameters[type] else {
            throw TopicRuleError(.invalidRequest, "\(path): \(type.prefix(64)) is not an action type.")
        }
        guard let parameters = value as? [String: Any] else { throw TopicRuleError(.invalidRequest, "\(path).\(type) must be an object.") }
        for name in required where parameters[name] == nil || parameters[name] is NSNull {
            throw TopicRuleError(.invalidRequest, "\(path).\(type).\(name) is required.")
        }
        let reader = Parameters(values: parameters, path: "\(path).\(type)", version: version)
        switch type {
        case "republish":
            let qos = try reader.int("qos") ?? 0
            guard (0...1).contains(qos) else { throw TopicRuleError(.invalidRequest, "\(reader.path).qos must be 0 or 1.") }
            let headers = Parameters(values: try reader.object("headers") ?? [:], path: "\(reader.path).headers", version: version)
            var userProperties: [(key: SQLTemplate, value: SQLTemplate)] = []
            for (index, entry) in try headers.list("userProperties").enumerated() {
                let property = Parameters(values: entry, path: "\(headers.path).userProperties[\(index)]", version: version)
                userProperties.append((try property.requiredTemplate("key"), try property.requiredTemplate("value")))
            }
            guard userProperties.count <= 100 else { throw TopicRuleError(.invalidRequest, "\(headers.path).userProperties has at most 100 entries.") }
            return .republish(.init(topic: try reader.requiredTemplate("topic"), qos: qos, contentType: try headers.template("contentType"),
                                    payloadFormatIndicator: try headers.template("payloadFormatIndicator"),
                                    responseTopic: try headers.template("responseTopic"), correlationData: try headers.template("correlationData"),
                                    messageExpiry: try headers.template("messageExpiry"), userProperties: userProperties))
        case "http":
            let url = try reader.requiredTemplate("url")
            let confirmationUrl = try reader.string("confirmationUrl")
            for candidate in [url.text] + (confirmationUrl.map { [$0] } ?? []) {
                guard candidate.utf8.count <= 2000, candidate.lowercased().hasPrefix("https://") || candidate.lowercased().hasPrefix("http://") else {
                    throw TopicRuleError(.invalidRequest, "\(reader.path).url must be an http(s) URL of at most 2000 characters.")
                }
            }
            if !url.isConstant, confirmationUrl == nil {
                throw TopicRuleError(.invalidRequest, "\(reader.path).confirmationUrl is required when the url has substitution templates.")
            }
            if let confirmationUrl, !url.text.hasPrefix(confirmationUrl) {
                throw TopicRuleError(.invalidRequest, "\(reader.path).url must begin with its confirmationUrl.")
            }
            var headers: [(key: String, value: SQLTemplate)] = []
            for (index, entry) in try reader.list("headers").enumerated() {
                let header = Parameters(values: entry, path: "\(reader.path).headers[\(index)]", version: version)
                // An HTTP field name: 1 to 256 of RFC 9110's token characters.
                let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
                guard let key = try header.string("key"), (1...256).contains(key.utf8.count), key.utf8.allSatisfy(token.contains) else {
                    throw TopicRuleError(.invalidRequest, "\(header.path).key must be 1 to 256 characters of an HTTP header name.")
                }
                headers.append((key, try header.requiredTemplate("value")))
            }
            guard headers.count <= 100 else { throw TopicRuleError(.invalidRequest, "\(reader.path).headers has at most 100 entries.") }
            var sigv4: (region: String, service: String)?
            if let auth = try reader.object("auth"), let signing = auth["sigv4"] as? [String: Any] {
                let sign = Parameters(values: signing, path: "\(reader.path).auth.sigv4", version: version)
                guard let region = try sign.string("signingRegion"), let service = try sign.string("serviceName"), try sign.string("roleArn") != nil else {
                    throw TopicRuleError(.invalidRequest, "\(sign.path) needs signingRegion, serviceName and roleArn.")
                }
                sigv4 = (region, service)
            }
            var batch: RuleAction.HTTP.Batch?
            if try reader.bool("enableBatching") == true {
                var config = RuleAction.HTTP.Batch()
                if let settings = try reader.object("batchConfig") {
                    let limits = Parameters(values: settings, path: "\(reader.path).batchConfig", version: version)
                    for (key, range) in [("maxBatchOpenMs", 5...200), ("maxBatchSize", 2...10), ("maxBatchSizeBytes", 100...131_072)] {
                        guard let value = settings[key] else { continue }
                        guard let number = value as? Int, !(value is Bool), range.contains(number) else {
                            throw TopicRuleError(.invalidRequest, "\(limits.path).\(key) must be an integer from \(range.lowerBound) to \(range.upperBound).")
                        }
                        switch key {
                        case "maxBatchOpenMs": config.maxBatchOpenMs = number
                        case "maxBatchSize": config.maxBatchSize = number
                        default: config.maxBatchSizeBytes = number
                        }
                    }
                    config.batchAcrossTopics = try limits.bool("batchAcrossTopics") ?? false
                }
                batch = config
            }
            return .http(.init(url: url, confirmationUrl: confirmationUrl ?? (url.isConstant ? url.text : nil), headers: headers, sigv4: sigv4,
                               batch: batch))
        case "cloudwatchLogs":
            return .cloudwatchLogs(.init(logGroupName: try reader.requiredTemplate("logGroupName"), batchMode: try reader.bool("batchMode") ?? false))
        case "dynamoDB":
            for key in ["hashKeyType", "rangeKeyType"] {
                if let kind = try reader.string(key), !["STRING", "NUMBER"].contains(kind) {
                    throw TopicRuleError(.invalidRequest, "\(reader.path).\(key) must be STRING or NUMBER.")
                }
            }
            if (try reader.string("rangeKeyField") == nil) != (try reader.string("rangeKeyValue") == nil) {
                throw TopicRuleError(.invalidRequest, "\(reader.path) needs both rangeKeyField and rangeKeyValue, or neither.")
            }
            return .dynamoDB(.init(tableName: try reader.requiredTemplate("tableName"), operation: try reader.template("operation"),
                                   hashKeyField: try reader.requiredTemplate("hashKeyField"), hashKeyValue: try reader.requiredTemplate("hashKeyValue"),
                                   hashKeyType: try reader.string("hashKeyType"), rangeKeyField: try reader.template("rangeKeyField"),
                                   rangeKeyValue: try reader.template("rangeKeyValue"), rangeKeyType: try reader.string("rangeKeyType"),
                                   payloadField: try reader.template("payloadField")))
        case "dynamoDBv2":
            guard let putItem = try reader.object("putItem"), let table = putItem["tableName"] as? String, !table.isEmpty else {
                throw TopicRuleError(.invalidRequest, "\(reader.path).putItem.tableName is required.")
            }
            return .dynamoDBv2(.init(tableName: table))
        case "s3":
            return .s3(.init(bucketName: try reader.requiredTemplate("bucketName"), key: try reader.requiredTemplate("key"),
                             cannedAcl: try reader.string("cannedAcl")))
        default:
            return .unsupported(type: type)
        }
    }

    /// Reads an action's parameters, with refusals that name the parameter's path.
    struct Parameters {
        let values: [String: Any]
        let path: String
        let version: SQLVersion

        func string(_ name: String) throws(TopicRuleError) -> String? {
            guard let value = values[name], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw TopicRuleError(.invalidRequest, "\(path).\(name) must be a string.") }
            return text
        }

        func int(_ name: String) throws(TopicRuleError) -> Int? {
            guard let value = values[name], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else {
                throw TopicRuleError(.invalidRequest, "\(path).\(name) must be an integer.")
            }
            return int
        }

        func bool(_ name: String) throws(TopicRuleError) -> Bool? {
            guard let value = values[name], !(value is NSNull) else { return nil }
            guard let flag = value as? Bool else { throw TopicRuleError(.invalidRequest, "\(path).\(name) must be true or false.") }
            return flag
        }

        func object(_ name: String) throws(TopicRuleError) -> [String: Any]? {
            guard let value = values[name], !(value is NSNull) else { return nil }
            guard let object = value as? [String: Any] else { throw TopicRuleError(.invalidRequest, "\(path).\(name) must be an object.") }
            return object
        }

        func list(_ name: String) throws(TopicRuleError) -> [[String: Any]] {
            guard let value = values[name], !(value is NSNull) else { return [] }
            guard let list = value as? [[String: Any]] else { throw TopicRuleError(.invalidRequest, "\(path).\(name) must be a list of objects.") }
            return list
        }

        func template(_ name: String) throws(TopicRuleError) -> SQLTemplate? {
            guard let text = try string(name) else { return nil }
            guard text.utf8.count <= 4096 else { throw TopicRuleError(.invalidRequest, "\(path).\(name) is longer than 4096 characters.") }
            do {
                return try SQLTemplate.parse(text, version: version)
            } catch {
                throw TopicRuleError(.invalidRequest, "\(path).\(name): \(error.description)")
            }
        }

        func requiredTemplate(_ name: String) throws(TopicRuleError) -> SQLTemplate {
            guard let template = try template(name) else { throw TopicRuleError(.invalidRequest, "\(path).\(name) is required.") }
            return template
        }
    }
}
