import Foundation

/// What a rule's SQL sees of one message: the payload and the facts the message functions return.
public struct SQLMessage: Sendable {
    /// The topic as `topic()` shows it (for Basic Ingest, without `$aws/rules/<rule>/`).
    public var topic: String
    public var payload: [UInt8]
    public var clientID: String?
    /// The certificate id, or the access key id of a signed request.
    public var principal: String?
    public var sourceIP: String?
    /// Milliseconds since 1970 when the gateway received the message.
    public var timestamp: Int64
    public var traceID: String?
    public var accountID: String
    /// MQTT 5 properties.
    public var contentType: String?
    public var payloadFormatUTF8: Bool?
    public var responseTopic: String?
    public var correlationData: [UInt8]?
    public var userProperties: [(name: String, value: String)]

    public init(topic: String, payload: [UInt8], clientID: String? = nil, principal: String? = nil, sourceIP: String? = nil,
                timestamp: Int64, traceID: String? = nil, accountID: String, contentType: String? = nil, payloadFormatUTF8: Bool? = nil,
                responseTopic: String? = nil, correlationData: [UInt8]? = nil, userProperties: [(name: String, value: String)] = []) {
        self.topic = topic
        self.payload = payload
        self.clientID = clientID
        self.principal = principal
        self.sourceIP = sourceIP
        self.timestamp = timestamp
        self.traceID = traceID
        self.accountID = accountID
        self.contentType = contentType
        self.payloadFormatUTF8 = payloadFormatUTF8
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.userProperties = userProperties
    }
}

/// The gateway's services the SQL may read (the device shadow for `get_thing_shadow`, the registry for
/// `get_registry_data`).
public protocol SQLServices: Sendable {
    /// The shadow document (as GetThingShadow answers it), or Undefined when there is none.
    func thingShadow(thingName: String, shadowName: String?) -> SQLValue
    /// What the registry API `api` (DescribeThing, ListThingGroupsForThing) answers for the thing, or
    /// Undefined when there is no such thing.
    func registryData(api: String, thingName: String) -> SQLValue
}

extension SQLServices {
    public func registryData(api: String, thingName: String) -> SQLValue { .undefined }
}

/// One message's evaluation: the output, and what the actions' `${...}` templates are rendered with
/// (the original payload and the SET variables, never the SELECT's aliases, as AWS documents).
public struct SQLOutcome: Sendable {
    public let value: SQLValue
    let evaluator: SQLEvaluator

    /// The outgoing payload: JSON text, or the raw bytes when the output is a payload that is not JSON.
    public var payload: [UInt8] {
        if case .bytes(let bytes) = value { return bytes }
        return Array(SQLJSON.text(value).utf8)
    }

    /// A template's text: strings as they are, other values as their standard String conversion, Undefined
    /// and Null as nothing.
    public func render(_ template: SQLTemplate) -> String {
        var out = ""
        for part in template.parts {
            switch part {
            case .text(let text): out += text
            case .expression(let expression):
                out += SQLConvert.string(evaluator.evaluate(expression, row: evaluator.root)) ?? ""
            }
        }
        return out
    }
}

extension SQLStatement {
    /// Evaluates the statement for one message: nil when WHERE is not true (the actions do not run).
    /// - Parameter payload: the message's payload as `SQLJSON.payload` reads it for this version, when the
    ///   caller has it already (several rules taking one message parse it once).
    public func evaluate(_ message: SQLMessage, services: (any SQLServices)? = nil, payload: SQLValue? = nil) -> SQLOutcome? {
        var evaluator = SQLEvaluator(version: version, message: message, services: services,
                                     root: payload ?? SQLJSON.payload(message.payload, version: version))
        for (name, expression) in variables {
            evaluator.variables[name] = evaluator.evaluate(expression, row: evaluator.root)
        }
        if let condition = select.condition {
            guard case .bool(true) = evaluator.evaluate(condition, row: evaluator.root) else { return nil }
        }
        let value = evaluator.select(select, row: evaluator.root)
        return SQLOutcome(value: value, evaluator: evaluator)
    }
}

struct SQLEvaluator: Sendable {
    let version: SQLVersion
    let message: SQLMessage
    let services: (any SQLServices)?
    /// The payload: its JSON value, or its bytes when it is not JSON.
    let root: SQLValue
    var variables: [String: SQLValue] = [:]

    init(version: SQLVersion, message: SQLMessage, services: (any SQLServices)?, root: SQLValue) {
        self.version = version
        self.message = message
        self.services = services
        self.root = root
    }

    /// A SELECT's output for a row: an object of its items, or with VALUE the one item's value.
    func select(_ select: SQLSelect, row: SQLValue) -> SQLValue {
        if select.value, case .expression(let expression, _) = select.items[0] { return evaluate(expression, row: row) }
        // `SELECT *` alone passes the row on as it is (a payload that is not a JSON object included).
        if select.items.count == 1, case .all = select.items[0] {
            if case .object = row { return row }
            return row
        }
        var object = SQLObject()
        for (index, item) in select.items.enumerated() {
            switch item {
            case .all:
                if case .object(let members) = row { for (key, value) in members.pairs { object[key] = value } }
            case .expression(let expression, let alias):
                object[alias ?? Self.outputName(expression, position: index)] = evaluate(expression, row: row)
            }
        }
        return .object(object)
    }

    /// The key an item without AS gets: a field's (last) name, a function's name, else `_<position>`.
    static func outputName(_ expression: SQLExpression, position: Int) -> String {
        switch expression {
        case .field(let name), .member(_, let name), .variable(let name): name
        case .call(let function, _): function.rawValue
        case .cast: "cast"
        default: "_\(position + 1)"
        }
    }

    func evaluate(_ expression: SQLExpression, row: SQLValue) -> SQLValue {
        switch expression {
        case .literal(let value): return value
        case .field(let name): return row.member(name)
        case .wholePayload: return root
        case .variable(let name): return variables[name] ?? .undefined
        case .member(let base, let name):
            let value = evaluate(base, row: row)
            // An array's member by its (0-based) index, as `a.0` reads on AWS.
            if case .array(let elements) = value, let index = Int(name) { return index < elements.count ? elements[index] : .undefined }
            return value.member(name)
        case .index(let base, let index):
            return SQLFunctions.get(evaluate(base, row: row), evaluate(index, row: row))
        case .negate(let operand):
            switch evaluate(operand, row: row) {
            case .int(let number): return number == .min ? SQLValue.number(-Decimal(number), version: version) : .int(-number)
            case .decimal(let number): return .decimal(-number)
            case .string(let text): return SQLConvert.decimal(parsing: text).map { SQLValue.number(-$0, version: version) } ?? .undefined
            default: return .undefined
            }
        case .not(let operand):
            return SQLConvert.bool(evaluate(operand, row: row)).map { .bool(!$0) } ?? .undefined
        case .binary(let op, let left, let right):
            return SQLOperators.apply(op, evaluate(left, row: row), evaluate(right, row: row), version: version)
        case .call(let function, let arguments):
            return call(function, arguments, row: row)
        case .cast(let value, let type):
            return SQLConvert.cast(evaluate(value, row: row), to: type, version: version)
        case .caseWhen(let subject, let branches, let otherwise):
            if let subject {
                let value = evaluate(subject, row: row)
                guard !value.isUndefined else { return .undefined }
                for (test, result) in branches where SQLOperators.apply(.equal, value, evaluate(test, row: row), version: version) == .bool(true) {
                    return evaluate(result, row: row)
                }
            } else {
                for (test, result) in branches where evaluate(test, row: row) == .bool(true) { return evaluate(result, row: row) }
            }
            return otherwise.map { evaluate($0, row: row) } ?? .undefined
        case .object(let members):
            var object = SQLObject()
            for (key, member) in members { object[key] = evaluate(member, row: row) }
            return .object(object)
        case .array(let elements):
            return .array(elements.map { evaluate($0, row: row) }.filter { !$0.isUndefined })
        case .query(let query):
            guard let source = query.source else { return .undefined }
            switch evaluate(source, row: row) {
            case .array(let elements):
                return .array(elements.compactMap { element -> SQLValue? in
                    if let condition = query.condition, evaluate(condition, row: element) != .bool(true) { return nil }
                    let selected = select(query, row: element)
                    return selected.isUndefined ? nil : selected
                })
            case .object(let object):
                if let condition = query.condition, evaluate(condition, row: .object(object)) != .bool(true) { return .undefined }
                return select(query, row: .object(object))
            default:
                return .undefined
            }
        }
    }
}
