import Foundation
import IoTSQL
import MQTTCore

/// What one action is to do for one message, its templates rendered: the runners on this machine carry
/// these out. Pure values, so what a rule does to a message is testable without I/O.
public enum ActionRequest: Sendable {
    case republish(Republish)
    case http(HTTPPost)
    case log(group: String, events: [(timestamp: Int64, message: String)])
    case dynamoDB(table: String, operation: String, item: [(name: String, value: SQLValue)])
    case dynamoDBv2(table: String, item: SQLObject)
    case s3(bucket: String, key: String, body: [UInt8])

    /// An http action's POST: its URL and headers rendered, the body the SQL result.
    public struct HTTPPost: Sendable {
        public var url: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var sigv4: (region: String, service: String)?
        /// Batched with other messages of the same rule, URL (and topic) when set.
        public var batch: RuleAction.HTTP.Batch?
        /// The message's topic, which a batch groups by unless it batches across topics.
        public var topic: String
    }

    public struct Republish: Sendable {
        public var topic: String
        public var qos: Int
        public var payload: [UInt8]
        public var contentType: String?
        public var payloadFormatUTF8: Bool?
        public var responseTopic: String?
        public var correlationData: [UInt8]?
        public var messageExpiry: UInt32?
        public var userProperties: [(name: String, value: String)]
    }
}

/// An action that could not be done, as AWS's error action lists it.
public struct ActionFailure: Error, Sendable, Hashable {
    /// `RepublishAction`, `HttpAction`, `S3Action`, ...
    public var failedAction: String
    public var failedResource: String
    public var errorMessage: String

    public init(action type: String, resource: String, message: String) {
        failedAction = type.prefix(1).uppercased() + type.dropFirst() + "Action"
        failedResource = resource
        errorMessage = message
    }
}

extension RuleAction {
    /// The request for one message's outcome, or why there is none. `payload` replaces the SQL result (the
    /// error action sends AWS's error payload; its templates still see the original message).
    public func request(_ outcome: SQLOutcome, message: SQLMessage, payload replacement: [UInt8]? = nil) -> Result<ActionRequest, ActionFailure> {
        let payload = replacement ?? outcome.payload
        let value = replacement.flatMap { SQLJSON.parse($0, version: .v2016) } ?? outcome.value
        switch self {
        case .republish(let republish):
            var topic = outcome.render(republish.topic)
            // `$$` at the start of the template writes a reserved topic's leading `$`; a `$` that came from
            // the message (a template's value) never makes a reserved topic.
            if republish.topic.text.hasPrefix("$$") {
                topic.removeFirst()
            } else if topic.hasPrefix("$") {
                return .failure(ActionFailure(action: type, resource: topic,
                                              message: "The republish topic \(topic.prefix(256)) is reserved: only a template starting with $$ may name one."))
            }
            guard !topic.isEmpty, Topic.validateName(topic) == nil else {
                return .failure(ActionFailure(action: type, resource: topic, message: "The republish topic \(topic.prefix(256)) is not a topic name."))
            }
            var request = ActionRequest.Republish(topic: topic, qos: republish.qos, payload: payload, userProperties: [])
            request.contentType = republish.contentType.map(outcome.render)
            if let indicator = republish.payloadFormatIndicator.map(outcome.render) {
                switch indicator {
                case "UTF8_DATA": request.payloadFormatUTF8 = true
                case "UNSPECIFIED_BYTES": request.payloadFormatUTF8 = false
                default: return .failure(ActionFailure(action: type, resource: topic, message: "payloadFormatIndicator must be UTF8_DATA or UNSPECIFIED_BYTES."))
                }
            }
            request.responseTopic = republish.responseTopic.map(outcome.render)
            if let responseTopic = request.responseTopic, Topic.validateName(responseTopic) != nil {
                return .failure(ActionFailure(action: type, resource: topic, message: "The responseTopic \(responseTopic.prefix(256)) is not a topic name."))
            }
            if let correlation = republish.correlationData.map(outcome.render) {
                guard let data = Data(base64Encoded: correlation) else {
                    return .failure(ActionFailure(action: type, resource: topic, message: "correlationData must be base64."))
                }
                request.correlationData = Array(data)
            }
            if let expiry = republish.messageExpiry.map(outcome.render) {
                guard let seconds = UInt32(expiry) else {
                    return .failure(ActionFailure(action: type, resource: topic, message: "messageExpiry must be a number of seconds."))
                }
                request.messageExpiry = seconds
            }
            request.userProperties = republish.userProperties.map { (outcome.render($0.key), outcome.render($0.value)) }
            if request.userProperties.contains(where: { $0.name.unicodeScalars.contains("\u{0}") || $0.value.unicodeScalars.contains("\u{0}") })
                || request.contentType?.unicodeScalars.contains("\u{0}") == true {
                return .failure(ActionFailure(action: type, resource: topic, message: "MQTT strings cannot contain U+0000."))
            }
            return .success(.republish(request))
        case .http(let http):
            let url = outcome.render(http.url)
            var headers = http.headers.map { (name: $0.key, value: outcome.render($0.value)) }
            if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                headers.append(("content-type", SQLJSON.parse(payload, version: .v2016) == nil ? "application/octet-stream" : "application/json"))
            }
            // A header value is the rendered template: a line break would start a header of its own.
            if headers.contains(where: { $0.value.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F } }) {
                return .failure(ActionFailure(action: type, resource: url, message: "A header value may not contain a control character."))
            }
            return .success(.http(.init(url: url, headers: headers, body: payload, sigv4: http.sigv4, batch: http.batch, topic: message.topic)))
        case .cloudwatchLogs(let logs):
            let group = outcome.render(logs.logGroupName)
            guard logs.batchMode else {
                return .success(.log(group: group, events: [(message.timestamp, String(decoding: payload, as: UTF8.self))]))
            }
            // Batch mode: the SQL result is an array of {"timestamp": <ms>, "message": "..."}.
            guard case .array(let entries) = value else {
                return .failure(ActionFailure(action: type, resource: group, message: "With batchMode the SQL result must be an array of {timestamp, message}."))
            }
            var events: [(timestamp: Int64, message: String)] = []
            for entry in entries {
                guard case .int(let timestamp) = entry.member("timestamp"), case .string(let text) = entry.member("message") else {
                    return .failure(ActionFailure(action: type, resource: group, message: "Every batch entry needs a timestamp (ms) and a message (string)."))
                }
                events.append((Int64(timestamp), text))
            }
            return .success(.log(group: group, events: events))
        case .dynamoDB(let dynamo):
            let table = outcome.render(dynamo.tableName)
            let operation = dynamo.operation.map(outcome.render) ?? "INSERT"
            guard ["INSERT", "UPDATE", "DELETE"].contains(operation) else {
                return .failure(ActionFailure(action: type, resource: table, message: "operation must be INSERT, UPDATE or DELETE, not \(operation.prefix(64))."))
            }
            func key(_ value: String, _ kind: String?) -> SQLValue {
                if kind == "NUMBER", let number = SQLJSON.parse(Array(value.utf8), version: .v2016), case .int = number { return number }
                if kind == "NUMBER", let number = SQLJSON.parse(Array(value.utf8), version: .v2016), case .decimal = number { return number }
                return .string(value)
            }
            var item: [(name: String, value: SQLValue)] = [(outcome.render(dynamo.hashKeyField), key(outcome.render(dynamo.hashKeyValue), dynamo.hashKeyType))]
            if let field = dynamo.rangeKeyField, let value = dynamo.rangeKeyValue {
                item.append((outcome.render(field), key(outcome.render(value), dynamo.rangeKeyType)))
            }
            item.append((dynamo.payloadField.map(outcome.render) ?? "payload", value))
            return .success(.dynamoDB(table: table, operation: operation, item: item))
        case .dynamoDBv2(let dynamo):
            guard case .object(let object) = value else {
                return .failure(ActionFailure(action: type, resource: dynamo.tableName, message: "The SQL result must be a JSON object: its keys are the item's columns."))
            }
            return .success(.dynamoDBv2(table: dynamo.tableName, item: object))
        case .s3(let s3):
            return .success(.s3(bucket: outcome.render(s3.bucketName), key: outcome.render(s3.key), body: payload))
        case .unsupported(let type):
            return .failure(ActionFailure(action: type, resource: type,
                                          message: "The \(type) action calls an AWS service; this gateway has no local target for it, so it is stored but never run."))
        }
    }
}

extension CompiledTopicRule {
    /// AWS's error-action payload: one per rule and message, listing every action that failed.
    public static func errorPayload(ruleName: String, topic: String, clientID: String?, traceID: String, originalPayload: [UInt8],
                                    failures: [ActionFailure]) -> [UInt8] {
        var object = SQLObject()
        object["ruleName"] = .string(ruleName)
        object["topic"] = .string(topic)
        object["cloudwatchTraceId"] = .string(traceID)
        object["clientId"] = .string(clientID ?? "n/a")
        object["base64OriginalPayload"] = .string(Data(originalPayload).base64EncodedString())
        object["failures"] = .array(failures.map { failure in
            .object(SQLObject([("failedAction", .string(failure.failedAction)), ("failedResource", .string(failure.failedResource)),
                               ("errorMessage", .string(failure.errorMessage))]))
        })
        return Array(SQLJSON.text(.object(object)).utf8)
    }
}
