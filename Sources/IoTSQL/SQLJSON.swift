import Foundation

/// JSON in and out of SQL values. Numbers keep their decimal digits (`54.98` stays `54.98`): an integer
/// that fits is an Int, anything else a Decimal (under 2016-03-23 a whole Decimal is an Int). The
/// shadow's parser (DeviceShadow) reads numbers as doubles and the broker's writer knows no Decimal,
/// hence a reader and writer of its own here.
public enum SQLJSON {
    /// Nesting deeper than this is not JSON here (the parser recurses per level).
    public static let maximumDepth = 64

    /// The value of a JSON document; nil when the bytes are not one (or not UTF-8).
    public static func parse(_ bytes: some Collection<UInt8>, version: SQLVersion) -> SQLValue? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        var reader = Reader(bytes: Array(bytes), version: version)
        reader.skipWhitespace()
        guard let value = reader.value(depth: 0) else { return nil }
        reader.skipWhitespace()
        return reader.index == reader.bytes.count ? value : nil
    }

    /// A message payload as the SQL sees it: its JSON value, or its bytes when it is not JSON.
    public static func payload(_ bytes: [UInt8], version: SQLVersion) -> SQLValue {
        parse(bytes, version: version) ?? .bytes(bytes)
    }

    /// Compact JSON text (object keys in their order). Undefined members are left out; Undefined alone
    /// is the empty text, as AWS serializes it; bytes are written as base64 text.
    public static func text(_ value: SQLValue) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    static func write(_ value: SQLValue, into out: inout String) {
        switch value {
        case .undefined: break
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .decimal(let number): out += decimalText(number)
        case .string(let text): writeString(text, into: &out)
        case .bytes(let bytes): writeString(Data(bytes).base64EncodedString(), into: &out)
        case .array(let elements):
            out += "["
            var first = true
            for element in elements where !element.isUndefined {
                if !first { out += "," }
                first = false
                write(element, into: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (index, pair) in object.pairs.enumerated() {
                if index > 0 { out += "," }
                writeString(pair.key, into: &out)
                out += ":"
                write(pair.value, into: &out)
            }
            out += "}"
        }
    }

    /// A Decimal as JSON number text (plain notation, no trailing zeros).
    static func decimalText(_ value: Decimal) -> String {
        var text = NSDecimalNumber(decimal: value).stringValue
        if text.contains("."), !text.contains("E"), !text.contains("e") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    struct Reader {
        let bytes: [UInt8]
        let version: SQLVersion
        var index = 0

        init(bytes: [UInt8], version: SQLVersion) {
            self.bytes = bytes
            self.version = version
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) -> SQLValue? {
            guard depth <= SQLJSON.maximumDepth, index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string().map(SQLValue.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        mutating func literal(_ text: String, _ value: SQLValue) -> SQLValue? {
            let expected = Array(text.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else { return nil }
            index += expected.count
            return value
        }

        mutating func object(depth: Int) -> SQLValue? {
            index += 1
            var object = SQLObject()
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                skipWhitespace()
                guard let member = value(depth: depth) else { return nil }
                object[key] = member
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { return nil }
                index += 1
                return .object(object)
            }
        }

        mutating func array(depth: Int) -> SQLValue? {
            index += 1
            var elements: [SQLValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                guard let element = value(depth: depth) else { return nil }
                elements.append(element)
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { return nil }
                index += 1
                return .array(elements)
            }
        }

        mutating func string() -> String? {
            index += 1
            var scalars = String.UnicodeScalarView()
            var run = index
            func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    flush(index)
                    index += 1
                    return String(scalars)
                }
                guard byte >= 0x20 else { return nil }
                if byte == UInt8(ascii: "\\") {
                    flush(index)
                    index += 1
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard var code = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(code) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                            index += 2
                            guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { return nil }
                        scalars.append(scalar)
                    default: return nil
                    }
                    run = index
                } else {
                    index += 1
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else { return nil }
            index += 4
            return code
        }

        mutating func number() -> SQLValue? {
            let start = index
            while index < bytes.count, "+-.eE0123456789".utf8.contains(bytes[index]) { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            return SQLJSON.number(text, version: version)
        }
    }

    /// A JSON number's text as a value (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), nil otherwise.
    static func number(_ text: String, version: SQLVersion) -> SQLValue? {
        guard let fractional = NumberGrammar.check(text.utf8, leadingZeros: false, exponentSign: true) else { return nil }
        if !fractional, let whole = Int(text) { return .int(whole) }
        guard let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), decimal.isFinite else { return nil }
        return SQLValue.number(decimal, version: version)
    }
}

/// Number grammars checked by hand (per number of every payload, so no regular expression):
/// `-?digits(.digits)?([eE][+-]?digits)?`.
enum NumberGrammar {
    /// nil when `text` is not a number; else whether it has a fraction or an exponent.
    /// - Parameter leadingZeros: whether `012` is allowed (AWS's string conversion allows it, JSON does not).
    /// - Parameter exponentSign: whether `e+5` is allowed (JSON allows it, AWS's string conversion does not).
    static func check(_ text: String.UTF8View, leadingZeros: Bool, exponentSign: Bool) -> Bool? {
        var index = text.startIndex
        func digits() -> Int {
            var count = 0
            while index < text.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) {
                index = text.index(after: index)
                count += 1
            }
            return count
        }
        if index < text.endIndex, text[index] == UInt8(ascii: "-") { index = text.index(after: index) }
        let start = index
        let whole = digits()
        guard whole > 0 else { return nil }
        if !leadingZeros, whole > 1, text[start] == UInt8(ascii: "0") { return nil }
        var fractional = false
        if index < text.endIndex, text[index] == UInt8(ascii: ".") {
            index = text.index(after: index)
            guard digits() > 0 else { return nil }
            fractional = true
        }
        if index < text.endIndex, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index = text.index(after: index)
            if index < text.endIndex, text[index] == UInt8(ascii: "-") || (exponentSign && text[index] == UInt8(ascii: "+")) {
                index = text.index(after: index)
            }
            guard digits() > 0 else { return nil }
            fractional = true
        }
        return index == text.endIndex ? fractional : nil
    }
}
