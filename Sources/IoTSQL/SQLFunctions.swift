import Crypto
import Foundation

extension SQLEvaluator {
    func call(_ function: SQLFunction, _ arguments: [SQLExpression], row: SQLValue) -> SQLValue {
        // Functions that look at an argument's form, not only its value.
        switch function {
        case .encode:
            guard case .string("base64") = evaluate(arguments[1], row: row) else { return .undefined }
            if case .wholePayload = arguments[0] { return .string(Data(message.payload).base64EncodedString()) }
            let value = evaluate(arguments[0], row: row)
            if case .bytes(let bytes) = value { return .string(Data(bytes).base64EncodedString()) }
            return SQLConvert.string(value).map { .string(Data($0.utf8).base64EncodedString()) } ?? .undefined
        case .get_or_default:
            let value = evaluate(arguments[0], row: row)
            switch value {
            case .undefined, .null: return evaluate(arguments[1], row: row)
            default: return value
            }
        default: break
        }
        let values = arguments.map { evaluate($0, row: row) }
        return SQLFunctions.call(function, values, context: self)
    }
}

/// The functions' semantics, by AWS's function reference. Arguments of a type a function cannot take
/// give Undefined.
enum SQLFunctions {
    static func call(_ function: SQLFunction, _ arguments: [SQLValue], context: SQLEvaluator) -> SQLValue {
        let version = context.version
        func number(_ index: Int) -> SQLConvert.Number? { SQLConvert.number(arguments[index]) }
        func double(_ body: (Double) -> Double) -> SQLValue {
            guard let x = number(0)?.double else { return .undefined }
            return SQLValue.double(body(x), version: version)
        }
        func text(_ index: Int) -> String? { SQLConvert.string(arguments[index]) }
        switch function {
        // MARK: numbers
        case .abs:
            switch number(0) {
            case .int(let x): return x == .min ? .undefined : .int(Swift.abs(x))
            case .decimal(let x): return SQLValue.number(Swift.abs(x), version: version)
            case nil: return .undefined
            }
        case .acos: return double(Foundation.acos)
        case .asin: return double(Foundation.asin)
        case .atan: return double(Foundation.atan)
        case .atan2:
            guard let y = number(0)?.double, let x = number(1)?.double else { return .undefined }
            return SQLValue.double(Foundation.atan2(y, x), version: version)
        case .cos: return double(Foundation.cos)
        case .cosh: return double(Foundation.cosh)
        case .sin: return double(Foundation.sin)
        case .sinh: return double(Foundation.sinh)
        case .tan: return double(Foundation.tan)
        case .tanh: return double(Foundation.tanh)
        case .exp: return double(Foundation.exp)
        case .ln: return double(Foundation.log)
        case .log: return double(Foundation.log10)
        case .sqrt: return double(Foundation.sqrt)
        case .power:
            guard let x = number(0)?.double, let y = number(1)?.double else { return .undefined }
            return SQLValue.double(Foundation.pow(x, y), version: version)
        case .ceil, .floor, .round:
            switch number(0) {
            case .int(let x): return .int(x)
            case .decimal(var x):
                var rounded = Decimal()
                NSDecimalRound(&rounded, &x, 0, function == .ceil ? .up : function == .floor ? .down : .plain)
                return SQLValue.exactInt(rounded).map(SQLValue.int) ?? .decimal(rounded)
            case nil: return .undefined
            }
        case .sign:
            guard let x = number(0)?.decimal else { return .undefined }
            return .int(x.isZero ? 0 : x < 0 ? -1 : 1)
        case .trunc:
            guard let x = number(0), let places = SQLConvert.int(arguments[1]) else { return .undefined }
            if case .int(let whole) = x { return .int(whole) }
            var value = x.decimal
            var truncated = Decimal()
            NSDecimalRound(&truncated, &value, Swift.min(Swift.max(places, 0), 34), value < 0 ? .up : .down)
            return SQLValue.exactInt(truncated).map(SQLValue.int) ?? .decimal(truncated)
        case .mod, .remainder:
            return SQLOperators.arithmetic(.modulo, arguments[0], arguments[1], version: version)
        case .nanvl:
            switch arguments[0] {
            case .undefined, .null: return arguments[1]
            default: return arguments[0]
            }
        case .rand: return SQLValue.double(Double.random(in: 0..<1), version: .v2015)
        case .bitand, .bitor, .bitxor:
            guard let a = SQLConvert.int(arguments[0]), let b = SQLConvert.int(arguments[1]) else { return .undefined }
            return .int(function == .bitand ? a & b : function == .bitor ? a | b : a ^ b)
        case .bitnot:
            return SQLConvert.int(arguments[0]).map { .int(~$0) } ?? .undefined

        // MARK: strings
        case .chr:
            guard let code = SQLConvert.int(arguments[0]), (0...127).contains(code), let scalar = Unicode.Scalar(code) else { return .undefined }
            return .string(String(Character(scalar)))
        case .concat:
            return concat(arguments)
        case .endswith, .startswith:
            guard let s = text(0), let t = text(1) else { return .undefined }
            return .bool(function == .endswith ? s.hasSuffix(t) : s.hasPrefix(t))
        case .indexof:
            guard let s = text(0), let t = text(1) else { return .undefined }
            guard let range = s.range(of: t) else { return .int(-1) }
            return .int(s.distance(from: s.startIndex, to: range.lowerBound))
        case .length:
            return text(0).map { .int($0.count) } ?? .undefined
        case .numbytes:
            return text(0).map { .int($0.utf8.count) } ?? .undefined
        case .lower: return text(0).map { .string($0.lowercased()) } ?? .undefined
        case .upper: return text(0).map { .string($0.uppercased()) } ?? .undefined
        case .lpad, .rpad:
            guard let s = text(0), let n = SQLConvert.int(arguments[1]) else { return .undefined }
            let padding = String(repeating: " ", count: Swift.min(Swift.max(n, 0), 1000))
            return .string(function == .lpad ? padding + s : s + padding)
        case .ltrim, .rtrim, .trim:
            guard let s = text(0) else { return .undefined }
            let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            var result = Substring(s)
            if function != .rtrim { result = result.drop(while: blank) }
            if function != .ltrim { while let last = result.last, blank(last) { result.removeLast() } }
            return .string(String(result))
        case .replace:
            guard let s = text(0), let a = text(1), let b = text(2) else { return .undefined }
            return .string(a.isEmpty ? s : s.replacingOccurrences(of: a, with: b))
        case .substring:
            return substring(arguments)
        case .regexp_matches, .regexp_replace, .regexp_substr:
            return regexp(function, arguments)
        case .md2, .md5, .sha1, .sha224, .sha256, .sha384, .sha512:
            guard let s = text(0) else { return .undefined }
            return .string(digest(function, Array(s.utf8)).map { String(format: "%02x", $0) }.joined())

        // MARK: values
        case .get:
            return get(arguments[0], arguments[1])
        case .isnull:
            if case .null = arguments[0] { return .bool(true) }
            return .bool(false)
        case .isundefined:
            return .bool(arguments[0].isUndefined)
        case .transform:
            guard case .string("enrichArray") = arguments[0], case .object(let extra) = arguments[1], case .array(let elements) = arguments[2] else {
                return .undefined
            }
            return .array(elements.map { element in
                guard case .object(var object) = element else { return element }
                for (key, value) in extra.pairs { object[key] = value }
                return .object(object)
            })
        case .decode:
            guard case .string("base64") = arguments[1], let encoded = text(0) else { return .undefined }
            guard let data = Data(base64Encoded: encoded) else { return .null }
            if let json = SQLJSON.parse(Array(data), version: version) { return json }
            return String(data: data, encoding: .utf8).map(SQLValue.string) ?? .bytes(Array(data))

        // MARK: time
        case .timestamp: return .int(Int(context.message.timestamp))
        case .parse_time:
            guard let pattern = text(0), let milliseconds = number(1)?.decimal else { return .undefined }
            let zone = arguments.count > 2 ? text(2) : "UTC"
            return SQLTime.format(pattern: pattern, milliseconds: milliseconds, zone: zone ?? "UTC").map(SQLValue.string) ?? .undefined
        case .time_to_epoch:
            guard let value = text(0), let pattern = text(1) else { return .undefined }
            return SQLTime.parse(value, pattern: pattern).map { .int(Int($0)) } ?? .undefined

        // MARK: the message
        case .topic:
            guard !arguments.isEmpty else { return .string(context.message.topic) }
            guard let level = SQLConvert.int(arguments[0]) else { return .undefined }
            let levels = context.message.topic.split(separator: "/", omittingEmptySubsequences: false)
            return (1...levels.count).contains(level) ? .string(String(levels[level - 1])) : .undefined
        case .clientid: return .string(context.message.clientID ?? "n/a")
        case .principal: return context.message.principal.map(SQLValue.string) ?? .undefined
        case .traceid: return context.message.traceID.map(SQLValue.string) ?? .undefined
        case .accountid: return .string(context.message.accountID)
        case .newuuid: return .string(UUID().uuidString.lowercased())
        case .sql_version: return .string(version.rawValue)
        case .sourceip: return context.message.sourceIP.map(SQLValue.string) ?? .undefined
        case .get_mqtt_property:
            guard case .string(let name) = arguments[0] else { return .undefined }
            let message = context.message
            switch name.lowercased() {
            case "format_indicator": return message.payloadFormatUTF8.map { .string($0 ? "UTF8_DATA" : "UNSPECIFIED_BYTES") } ?? .undefined
            case "content_type": return message.contentType.map(SQLValue.string) ?? .undefined
            case "response_topic": return message.responseTopic.map(SQLValue.string) ?? .undefined
            case "correlation_data": return message.correlationData.map { .string(Data($0).base64EncodedString()) } ?? .undefined
            default: return .undefined
            }
        case .get_user_properties:
            let properties = context.message.userProperties
            if arguments.isEmpty {
                return properties.isEmpty ? .undefined : .array(properties.map { .object(SQLObject([($0.name, .string($0.value))])) })
            }
            guard case .string(let key) = arguments[0] else { return .undefined }
            let values = properties.filter { $0.name == key }.map { SQLValue.string($0.value) }
            return values.isEmpty ? .undefined : .array(values)

        // MARK: services
        case .get_thing_shadow:
            // (thingName, roleArn) or (thingName, shadowName, roleArn): the role is AWS's; the shadow is local.
            guard let thing = text(0), let services = context.services else { return .undefined }
            let shadow = arguments.count == 3 ? text(1) : nil
            return services.thingShadow(thingName: thing, shadowName: shadow)
        case .get_registry_data:
            // (api, thingName, roleArn): the role is AWS's; the registry is local.
            guard let api = text(0), SQLFunction.registryDataAPIs.contains(api), let thing = text(1), let services = context.services else {
                return .undefined
            }
            return services.registryData(api: api, thingName: thing)
        case .encode, .get_or_default, .aws_lambda, .get_dynamodb, .get_secret, .machinelearning_predict:
            return .undefined
        }
    }

    /// `get(collection, key)`: an Array's element by 0-based index, a String's character, an Object's member.
    static func get(_ collection: SQLValue, _ key: SQLValue) -> SQLValue {
        switch collection {
        case .array(let elements):
            guard let index = SQLConvert.int(key), elements.indices.contains(index) else { return .undefined }
            return elements[index]
        case .string(let text):
            guard let index = SQLConvert.int(key), index >= 0, index < text.count else { return .undefined }
            return .string(String(text[text.index(text.startIndex, offsetBy: index)]))
        case .object(let object):
            guard case .string(let name) = key else { return .undefined }
            return object[name]
        default:
            return .undefined
        }
    }

    /// `concat`: arrays splice (any array argument makes the result an array), otherwise the texts join.
    static func concat(_ arguments: [SQLValue]) -> SQLValue {
        guard !arguments.isEmpty else { return .undefined }
        if arguments.count == 1 { return arguments[0] }
        if arguments.contains(where: { if case .array = $0 { true } else { false } }) {
            var elements: [SQLValue] = []
            for argument in arguments {
                if case .array(let inner) = argument { elements += inner } else { elements.append(argument) }
            }
            return .array(elements.filter { !$0.isUndefined })
        }
        var out = ""
        for argument in arguments {
            guard let text = SQLConvert.string(argument) else { return .undefined }
            out += text
        }
        return .string(out)
    }

    /// `substring(s, from[, to])`: 0-based, `to` exclusive, indexes clamped to the string.
    static func substring(_ arguments: [SQLValue]) -> SQLValue {
        guard let s = SQLConvert.string(arguments[0]) else { return .undefined }
        func clamped(_ value: SQLValue) -> Int? {
            guard let decimal = SQLConvert.number(value)?.decimal else { return nil }
            if decimal < 0 { return 0 }
            if decimal > Decimal(s.count) { return s.count }
            return SQLConvert.intRoundedDown(decimal)
        }
        guard let from = clamped(arguments[1]) else { return .undefined }
        var to = s.count
        if arguments.count > 2 {
            guard let end = clamped(arguments[2]) else { return .undefined }
            to = end
        }
        guard from < to else { return .string("") }
        let start = s.index(s.startIndex, offsetBy: from)
        return .string(String(s[start..<s.index(s.startIndex, offsetBy: to)]))
    }

    static func regexp(_ function: SQLFunction, _ arguments: [SQLValue]) -> SQLValue {
        guard let s = SQLConvert.string(arguments[0]), let pattern = SQLConvert.string(arguments[1]),
              let regex = SQLRegexCache.shared.regex(pattern) else { return .undefined }
        let range = NSRange(s.startIndex..., in: s)
        switch function {
        case .regexp_matches:
            return .bool(regex.firstMatch(in: s, range: range) != nil)
        case .regexp_substr:
            guard let match = regex.firstMatch(in: s, range: range), let found = Range(match.range, in: s) else { return .string("") }
            return .string(String(s[found]))
        default:
            guard let replacement = SQLConvert.string(arguments[2]) else { return .undefined }
            return .string(regex.stringByReplacingMatches(in: s, range: range, withTemplate: replacement))
        }
    }

    static func digest(_ function: SQLFunction, _ bytes: [UInt8]) -> [UInt8] {
        switch function {
        case .md2: return LegacyDigests.md2(bytes)
        case .md5: return Array(Insecure.MD5.hash(data: bytes))
        case .sha1: return Array(Insecure.SHA1.hash(data: bytes))
        case .sha224: return LegacyDigests.sha224(bytes)
        case .sha256: return Array(SHA256.hash(data: bytes))
        case .sha384: return Array(SHA384.hash(data: bytes))
        default: return Array(SHA512.hash(data: bytes))
        }
    }
}

/// Compiled regular expressions by pattern, bounded: a rule's patterns are usually literals, compiled once.
final class SQLRegexCache: @unchecked Sendable {
    static let shared = SQLRegexCache()
    private let lock = NSLock()
    private var compiled: [String: NSRegularExpression] = [:]
    static let maximumEntries = 1000

    func regex(_ pattern: String) -> NSRegularExpression? {
        lock.lock()
        defer { lock.unlock() }
        if let known = compiled[pattern] { return known }
        guard pattern.utf8.count <= 4096, let made = try? NSRegularExpression(pattern: pattern) else { return nil }
        if compiled.count >= Self.maximumEntries { compiled.removeAll() }
        compiled[pattern] = made
        return made
    }
}
