import Foundation

/// An IoT policy document as AWS reads it: IAM's grammar (reference 3.1), parsed and checked once,
/// so evaluation never meets a malformed statement.
public struct PolicyDocument: Sendable, Hashable {
    /// `2012-10-17` enables policy variables; in `2008-10-17` documents `${...}` is literal text, as in IAM.
    public enum Version: String, Sendable, Hashable {
        case v2012 = "2012-10-17"
        case v2008 = "2008-10-17"
    }

    public var version: Version
    public var statements: [PolicyStatement]

    public init(version: Version, statements: [PolicyStatement]) {
        self.version = version
        self.statements = statements
    }
}

public struct PolicyStatement: Sendable, Hashable {
    public enum Effect: String, Sendable, Hashable {
        case allow = "Allow"
        case deny = "Deny"
    }

    public var sid: String?
    public var effect: Effect
    /// Action patterns (`iot:Publish`, `iot:*`, `*`), lower-cased: IAM compares action names without case.
    public var actions: [String]
    /// True for `NotAction`: the statement applies to every action except those.
    public var notAction: Bool
    /// Resource patterns (`arn:aws:iot:us-east-1:123456789012:topic/a/*`, `*`).
    public var resources: [String]
    /// True for `NotResource`.
    public var notResource: Bool
    public var conditions: [PolicyCondition]

    public init(sid: String? = nil, effect: Effect, actions: [String], notAction: Bool = false, resources: [String],
                notResource: Bool = false, conditions: [PolicyCondition] = []) {
        self.sid = sid
        self.effect = effect
        self.actions = actions
        self.notAction = notAction
        self.resources = resources
        self.notResource = notResource
        self.conditions = conditions
    }
}

/// One condition: `"<qualifier>:<Operator><IfExists>": {"<key>": [values]}`.
public struct PolicyCondition: Sendable, Hashable {
    public enum SetQualifier: String, Sendable, Hashable {
        case forAnyValue = "ForAnyValue"
        case forAllValues = "ForAllValues"
    }

    public var qualifier: SetQualifier?
    public var `operator`: ConditionOperator
    public var ifExists: Bool
    /// The context key as written (`iot:ClientId`, `aws:SourceIp`); looked up without regard to case.
    public var key: String
    public var values: [String]

    public init(qualifier: SetQualifier? = nil, operator: ConditionOperator, ifExists: Bool = false, key: String, values: [String]) {
        self.qualifier = qualifier
        self.operator = `operator`
        self.ifExists = ifExists
        self.key = key
        self.values = values
    }
}

/// IAM's condition operators.
public enum ConditionOperator: String, Sendable, Hashable, CaseIterable {
    case stringEquals = "StringEquals"
    case stringNotEquals = "StringNotEquals"
    case stringEqualsIgnoreCase = "StringEqualsIgnoreCase"
    case stringNotEqualsIgnoreCase = "StringNotEqualsIgnoreCase"
    case stringLike = "StringLike"
    case stringNotLike = "StringNotLike"
    case numericEquals = "NumericEquals"
    case numericNotEquals = "NumericNotEquals"
    case numericLessThan = "NumericLessThan"
    case numericLessThanEquals = "NumericLessThanEquals"
    case numericGreaterThan = "NumericGreaterThan"
    case numericGreaterThanEquals = "NumericGreaterThanEquals"
    case dateEquals = "DateEquals"
    case dateNotEquals = "DateNotEquals"
    case dateLessThan = "DateLessThan"
    case dateLessThanEquals = "DateLessThanEquals"
    case dateGreaterThan = "DateGreaterThan"
    case dateGreaterThanEquals = "DateGreaterThanEquals"
    case bool = "Bool"
    case binaryEquals = "BinaryEquals"
    case ipAddress = "IpAddress"
    case notIpAddress = "NotIpAddress"
    case arnEquals = "ArnEquals"
    case arnLike = "ArnLike"
    case arnNotEquals = "ArnNotEquals"
    case arnNotLike = "ArnNotLike"
    case null = "Null"

    /// The operators whose values are patterns (`*`, `?`).
    public var isLike: Bool { [.stringLike, .stringNotLike].contains(self) }
    public var isARN: Bool { [.arnEquals, .arnNotEquals, .arnLike, .arnNotLike].contains(self) }

    /// Operators whose match is negated: with `ForAnyValue`/`ForAllValues` and missing keys they behave
    /// as IAM documents.
    public var isNegated: Bool {
        switch self {
        case .stringNotEquals, .stringNotEqualsIgnoreCase, .stringNotLike, .numericNotEquals, .dateNotEquals, .notIpAddress,
             .arnNotEquals, .arnNotLike: true
        default: false
        }
    }
}

/// Why a document was refused: the JSON path of the offending element and what is wrong with it, the
/// text of AWS's MalformedPolicyException.
public struct PolicyParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}
