import Foundation

/// AWS's standard conversions (used when a function or operator gets a value of another type) and
/// `cast`'s, which differ in places (reference: the IoT SQL "Data types" and `cast` tables).
enum SQLConvert {
    /// A number of either kind, for arithmetic.
    enum Number {
        case int(Int)
        case decimal(Decimal)

        var decimal: Decimal {
            switch self {
            case .int(let value): Decimal(value)
            case .decimal(let value): value
            }
        }

        var double: Double { NSDecimalNumber(decimal: decimal).doubleValue }
    }

    /// `^-?\d+(\.\d+)?((?i)E-?\d+)?$`: the strings that convert to numbers (no `+`, no `.5`, no spaces).
    static func decimal(parsing text: String) -> Decimal? {
        guard NumberGrammar.check(text.utf8, leadingZeros: true, exponentSign: false) != nil else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// A number as numeric functions and arithmetic take it: Int and Decimal as they are, a String that
    /// parses as a Decimal; anything else nil (Undefined).
    static func number(_ value: SQLValue) -> Number? {
        switch value {
        case .int(let number): .int(number)
        case .decimal(let number): .decimal(number)
        case .string(let text): decimal(parsing: text).map(Number.decimal)
        default: nil
        }
    }

    /// An Int as the bitwise functions and indexes take it: Decimals and numeric Strings rounded down.
    static func int(_ value: SQLValue) -> Int? {
        switch number(value) {
        case .int(let number): number
        case .decimal(let number): intRoundedDown(number)
        case nil: nil
        }
    }

    static func intRoundedDown(_ value: Decimal) -> Int? {
        var value = value
        var floored = Decimal()
        NSDecimalRound(&floored, &value, 0, .down)
        guard abs(floored) < Decimal(sign: .plus, exponent: 18, significand: 9) else { return nil }
        return NSDecimalNumber(decimal: floored).intValue
    }

    /// Text as string functions take it: Strings as they are; numbers in plain notation; Booleans
    /// `true`/`false`; Arrays and Objects as JSON; Null and Undefined have none.
    static func string(_ value: SQLValue) -> String? {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .decimal(let number): SQLJSON.decimalText(number)
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: SQLJSON.text(value)
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null, .undefined: nil
        }
    }

    /// A Boolean as AND, OR and NOT take it: Booleans, and the Strings `true` and `false` in any case.
    static func bool(_ value: SQLValue) -> Bool? {
        switch value {
        case .bool(let flag): flag
        case .string(let text):
            switch text.lowercased() {
            case "true": true
            case "false": false
            default: nil
            }
        default: nil
        }
    }

    /// `cast(value AS type)`.
    static func cast(_ value: SQLValue, to type: SQLCastType, version: SQLVersion) -> SQLValue {
        switch (type, value) {
        case (_, .undefined), (_, .null): return .undefined
        case (.string, _): return string(value).map(SQLValue.string) ?? .undefined
        case (.int, .bool(let flag)): return .int(flag ? 1 : 0)
        case (.int, _): return int(value).map(SQLValue.int) ?? .undefined
        case (.decimal, .bool(let flag)), (.double, .bool(let flag)): return SQLValue.number(flag ? 1 : 0, version: version)
        case (.decimal, _), (.double, _):
            guard let number = number(value) else { return .undefined }
            return type == .double ? SQLValue.double(number.double, version: version) : SQLValue.number(number.decimal, version: version)
        case (.boolean, .int(let number)): return .bool(number != 0)
        case (.boolean, .decimal(let number)): return .bool(!number.isZero)
        case (.boolean, _): return bool(value).map(SQLValue.bool) ?? .undefined
        }
    }
}
