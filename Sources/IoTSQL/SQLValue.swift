import Foundation

/// A value of AWS IoT SQL's type system: Int, Decimal, Boolean, String, Array, Object, Null and
/// Undefined ("not a value": a missing key, or what a function gives for arguments it cannot take).
/// `bytes` is a payload that is not JSON, as `*` sees it; only `encode` and the output take it.
///
/// Decimal is Foundation's `Decimal` (38 digits; AWS's has 34), so `0.1 + 0.2` is `0.3` as on AWS;
/// the trigonometric and logarithmic functions compute in double precision, as AWS documents.
public enum SQLValue: Sendable, Hashable {
    case undefined
    case null
    case bool(Bool)
    case int(Int)
    case decimal(Decimal)
    case string(String)
    case array([SQLValue])
    case object(SQLObject)
    case bytes([UInt8])

    public var isUndefined: Bool { if case .undefined = self { true } else { false } }

    /// The type's name, for messages.
    public var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .null: "Null"
        case .bool: "Boolean"
        case .int: "Int"
        case .decimal: "Decimal"
        case .string: "String"
        case .array: "Array"
        case .object: "Object"
        case .bytes: "Binary"
        }
    }

    /// A member of an object (Undefined for anything else, or a missing key).
    public func member(_ key: String) -> SQLValue {
        if case .object(let object) = self { return object[key] }
        return .undefined
    }

    /// A Decimal as SQL version 2016-03-23 processes it: a whole number is an Int.
    static func number(_ value: Decimal, version: SQLVersion) -> SQLValue {
        if version == .v2016, let whole = exactInt(value) { return .int(whole) }
        return .decimal(value)
    }

    static func exactInt(_ value: Decimal) -> Int? {
        guard value.isFinite, abs(value) < Decimal(sign: .plus, exponent: 18, significand: 9) else { return nil }
        var source = value
        var whole = Decimal()
        NSDecimalRound(&whole, &source, 0, .plain)
        guard whole == value else { return nil }
        return NSDecimalNumber(decimal: whole).intValue
    }

    /// A double result (the functions AWS computes in double precision), as the shortest decimal text that
    /// reads back as the same double; NaN and infinities are Undefined.
    static func double(_ value: Double, version: SQLVersion) -> SQLValue {
        guard value.isFinite else { return .undefined }
        guard let decimal = Decimal(string: "\(value)") else { return .undefined }
        return number(decimal, version: version)
    }
}

/// An object that keeps its keys in the order they were set (the output reads as the SELECT list).
public struct SQLObject: Sendable, Hashable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: SQLValue] = [:]

    public init() {}

    public init(_ pairs: [(String, SQLValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    /// Setting Undefined removes the key (an Undefined member is not a member).
    public subscript(key: String) -> SQLValue {
        get { values[key] ?? .undefined }
        set {
            if newValue.isUndefined {
                if values.removeValue(forKey: key) != nil { keys.removeAll { $0 == key } }
            } else {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            }
        }
    }

    public var count: Int { keys.count }
    public var pairs: [(key: String, value: SQLValue)] { keys.map { ($0, values[$0]!) } }

    /// Equal when keys and values are: order does not matter (AWS's `=` on objects).
    public static func == (lhs: SQLObject, rhs: SQLObject) -> Bool { lhs.values == rhs.values }
    public func hash(into hasher: inout Hasher) { hasher.combine(values) }
}

/// The two SQL versions AWS serves.
public enum SQLVersion: String, Sendable, CaseIterable {
    case v2015 = "2015-10-08"
    case v2016 = "2016-03-23"
    /// What a rule gets when it names none (AWS's API default).
    public static let `default` = SQLVersion.v2015
}
