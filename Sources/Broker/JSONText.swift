/// Minimal JSON writing for the broker's own event payloads, so the pure core needs no Foundation
/// encoder and the field order matches AWS's documentation. The gateway's log writers share `quoted`.
public struct JSONText {
    private(set) var text = "{"
    private var first = true

    /// A JSON string literal for `string`, control characters escaped.
    public static func quoted(_ string: String) -> String {
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // C0 and C1 controls, DEL, and the Unicode line and paragraph separators: a client id or topic
            // must never break a log line for line-oriented readers (NEL and U+2028 end lines for some).
            case let s where s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        text += Self.quoted(name) + ":"
    }

    mutating func field(_ name: String, _ value: String) { key(name); text += Self.quoted(value) }
    mutating func field(_ name: String, _ value: Int64) { key(name); text += String(value) }
    mutating func field(_ name: String, _ value: Int) { key(name); text += String(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); text += value ? "true" : "false" }
    mutating func field(_ name: String, _ values: [String]) {
        key(name)
        text += "[" + values.map(Self.quoted).joined(separator: ",") + "]"
    }

    func finished() -> String { text + "}" }
}
