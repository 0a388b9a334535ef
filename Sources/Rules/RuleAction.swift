import Foundation
import IoTSQL

/// A rule action as the rules engine runs it: AWS's parameter shape (botocore `iot` Action), with every
/// parameter that takes `${...}` substitution templates parsed once. Action types with no target on this
/// machine are kept as given and fail at run time into the error action, with a reason.
public enum RuleAction: Sendable {
    case republish(Republish)
    case http(HTTP)
    case cloudwatchLogs(Logs)
    case dynamoDB(DynamoDB)
    case dynamoDBv2(DynamoDBv2)
    case s3(S3)
    /// lambda, sns, sqs, kinesis, firehose, timestream, ...: stored and returned, never run.
    case unsupported(type: String)

    /// Every substitution template of the action.
    public var templates: [SQLTemplate] {
        switch self {
        case .republish(let r):
            [r.topic] + [r.contentType, r.payloadFormatIndicator, r.responseTopic, r.correlationData, r.messageExpiry].compactMap { $0 }
                + r.userProperties.flatMap { [$0.key, $0.value] }
        case .http(let h): [h.url] + h.headers.map(\.value)
        case .cloudwatchLogs(let l): [l.logGroupName]
        case .dynamoDB(let d):
            [d.tableName, d.hashKeyField, d.hashKeyValue] + [d.operation, d.rangeKeyField, d.rangeKeyValue, d.payloadField].compactMap { $0 }
        case .s3(let s): [s.bucketName, s.key]
        case .dynamoDBv2, .unsupported: []
        }
    }

    /// The member name of AWS's Action structure.
    public var type: String {
        switch self {
        case .republish: "republish"
        case .http: "http"
        case .cloudwatchLogs: "cloudwatchLogs"
        case .dynamoDB: "dynamoDB"
        case .dynamoDBv2: "dynamoDBv2"
        case .s3: "s3"
        case .unsupported(let type): type
        }
    }

    public struct Republish: Sendable {
        public var topic: SQLTemplate
        public var qos: Int
        public var contentType: SQLTemplate?
        public var payloadFormatIndicator: SQLTemplate?
        public var responseTopic: SQLTemplate?
        public var correlationData: SQLTemplate?
        public var messageExpiry: SQLTemplate?
        public var userProperties: [(key: SQLTemplate, value: SQLTemplate)]
    }

    public struct HTTP: Sendable {
        public var url: SQLTemplate
        public var confirmationUrl: String?
        public var headers: [(key: String, value: SQLTemplate)]
        /// SigV4 signing of the request (region, service), when asked for.
        public var sigv4: (region: String, service: String)?
        /// enableBatching with its batchConfig (AWS's defaults filled in); nil: one request per message.
        public var batch: Batch?

        /// AWS's BatchConfig: a batch is sent when the first limit is reached.
        public struct Batch: Sendable, Hashable {
            public var maxBatchOpenMs = 20
            public var maxBatchSize = 10
            public var maxBatchSizeBytes = 5120
            public var batchAcrossTopics = false

            public init() {}
        }
    }

    public struct Logs: Sendable {
        public var logGroupName: SQLTemplate
        public var batchMode: Bool
    }

    public struct DynamoDB: Sendable {
        public var tableName: SQLTemplate
        public var operation: SQLTemplate?
        public var hashKeyField: SQLTemplate
        public var hashKeyValue: SQLTemplate
        public var hashKeyType: String?
        public var rangeKeyField: SQLTemplate?
        public var rangeKeyValue: SQLTemplate?
        public var rangeKeyType: String?
        public var payloadField: SQLTemplate?
    }

    public struct DynamoDBv2: Sendable {
        public var tableName: String
    }

    public struct S3: Sendable {
        public var bucketName: SQLTemplate
        public var key: SQLTemplate
        public var cannedAcl: String?
    }
}

/// Why a rule is refused at creation: its SQL does not parse (SqlParseException) or something else is
/// not valid (InvalidRequestException).
public struct TopicRuleError: Error, Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case sqlParse, invalidRequest }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var awsErrorType: String { kind == .sqlParse ? "SqlParseException" : "InvalidRequestException" }
}
