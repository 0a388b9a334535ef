/// Why a topic name or filter is not acceptable under the MQTT specification.
public enum TopicError: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case tooLong
    case wildcardInTopicName
    case misplacedMultiLevelWildcard
    case misplacedSingleLevelWildcard
    case invalidSharedSubscription(String)
    /// U+0001..U+001F or U+007F..U+009F: the spec lets a receiver refuse them (1.5.4), and Portcullis does.
    case controlCharacter

    public var description: String {
        switch self {
        case .empty: "topic is empty"
        case .tooLong: "topic is longer than 65,535 bytes"
        case .wildcardInTopicName: "a topic name must not contain '+' or '#'"
        case .misplacedMultiLevelWildcard: "'#' must be the last character and occupy a whole level"
        case .misplacedSingleLevelWildcard: "'+' must occupy a whole level"
        case .invalidSharedSubscription(let why): "invalid shared subscription: \(why)"
        case .controlCharacter: "control characters (U+0001..U+001F, U+007F..U+009F) are not allowed"
        }
    }
}

/// Topic names and filters (spec 4.7): validation and matching. Pure functions over UTF-8.
public enum Topic {
    static let slash = UInt8(ascii: "/")
    static let plus = UInt8(ascii: "+")
    static let hash = UInt8(ascii: "#")
    static let dollar = UInt8(ascii: "$")

    /// A topic name a client may publish to: non-empty, without wildcards or control characters.
    public static func validateName(_ topic: String) -> TopicError? {
        let utf8 = topic.utf8
        if utf8.isEmpty { return .empty }
        if utf8.count > 65_535 { return .tooLong }
        var previous: UInt8 = 0
        for byte in utf8 {
            if byte == plus || byte == hash { return .wildcardInTopicName }
            if isControl(byte, after: previous) { return .controlCharacter }
            previous = byte
        }
        return nil
    }

    /// Whether a string holds a C0 or C1 control character (U+0001..U+001F, U+007F..U+009F). The spec
    /// says such characters SHOULD NOT be sent and lets the receiver refuse them (MQTT 3.1.1 1.5.3,
    /// MQTT 5 1.5.4); Portcullis refuses them in client ids, user names, topic names and topic filters.
    /// U+0000 never gets here: the decoder refuses it as Malformed.
    public static func containsControlCharacter(_ text: String) -> Bool {
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if isControl(byte, after: previous) { return true }
            previous = byte
        }
        return false
    }

    /// C0 controls and DEL are single bytes; C1 controls U+0080..U+009F are 0xC2 0x80..0x9F in UTF-8
    /// (a continuation byte can follow 0xC2 only as the second byte of such a character).
    @inline(__always)
    static func isControl(_ byte: UInt8, after previous: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte >= 0x80 && byte <= 0x9F)
    }

    /// A topic filter (not a shared one): `+` fills a whole level, `#` a whole last level, no control
    /// characters.
    public static func validateFilter(_ filter: String) -> TopicError? {
        let utf8 = Array(filter.utf8)
        if utf8.isEmpty { return .empty }
        if utf8.count > 65_535 { return .tooLong }
        for (i, byte) in utf8.enumerated() {
            if isControl(byte, after: i > 0 ? utf8[i - 1] : 0) { return .controlCharacter }
            let startsLevel = i == 0 || utf8[i - 1] == slash
            let endsLevel = i == utf8.count - 1 || utf8[i + 1] == slash
            if byte == hash {
                guard startsLevel && i == utf8.count - 1 else { return .misplacedMultiLevelWildcard }
            } else if byte == plus {
                guard startsLevel && endsLevel else { return .misplacedSingleLevelWildcard }
            }
        }
        return nil
    }

    /// Whether a filter contains `+` or `#`.
    public static func hasWildcard(_ filter: String) -> Bool {
        filter.utf8.contains { $0 == plus || $0 == hash }
    }

    /// Number of `/` in a string (AWS limits topics and filters to 7).
    public static func levelSeparatorCount(_ topic: String) -> Int {
        topic.utf8.reduce(0) { $0 + ($1 == slash ? 1 : 0) }
    }

    /// Whether `topic` matches `filter`, by the MQTT rules: `+` matches one level, `#` the parent level
    /// and everything below, and topics starting with `$` are not matched by a leading wildcard.
    public static func matches(filter: String, topic: String) -> Bool {
        let topicBytes = topic.utf8
        if topicBytes.first == dollar, let first = filter.utf8.first, first == plus || first == hash {
            return false
        }
        let filterLevels = filter.utf8.split(separator: slash, omittingEmptySubsequences: false)
        let topicLevels = topicBytes.split(separator: slash, omittingEmptySubsequences: false)
        var i = 0
        while i < filterLevels.count {
            let level = filterLevels[i]
            if level.count == 1 && level.first == hash { return true }
            guard i < topicLevels.count else { return false }
            if !(level.count == 1 && level.first == plus) && !level.elementsEqual(topicLevels[i]) { return false }
            i += 1
        }
        return i == topicLevels.count
    }
}

/// A parsed `$share/{ShareName}/{filter}` subscription (MQTT 5 shared subscriptions, which AWS IoT also
/// accepts from MQTT 3.1.1 clients).
public struct SharedSubscription: Sendable, Hashable {
    public var shareName: String
    public var filter: String

    public static let prefix = "$share/"

    public init(shareName: String, filter: String) {
        self.shareName = shareName
        self.filter = filter
    }

    /// nil if `filter` is not a shared subscription; throws if it starts with `$share/` but is invalid.
    public static func parse(_ filter: String) throws(TopicError) -> SharedSubscription? {
        guard filter.hasPrefix(prefix) else {
            if filter == "$share" { throw .invalidSharedSubscription("missing share name") }
            return nil
        }
        let rest = filter.utf8.dropFirst(prefix.utf8.count)
        guard let slashIndex = rest.firstIndex(of: UInt8(ascii: "/")) else {
            throw .invalidSharedSubscription("missing topic filter")
        }
        let name = String(Substring(rest[rest.startIndex..<slashIndex]))
        let inner = String(Substring(rest[rest.index(after: slashIndex)...]))
        guard !name.isEmpty else { throw .invalidSharedSubscription("empty share name") }
        guard !name.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) else {
            throw .invalidSharedSubscription("share name must not contain '+' or '#'")
        }
        guard !Topic.containsControlCharacter(name) else { throw .controlCharacter }
        if let error = Topic.validateFilter(inner) { throw .invalidSharedSubscription("\(error)") }
        return SharedSubscription(shareName: name, filter: inner)
    }
}
