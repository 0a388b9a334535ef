import Testing

@testable import MQTTCore

/// Topic names, topic filters and their matching (spec 4.7), and shared subscriptions (4.8.2).
@Suite("Topics")
struct TopicTests {
    static let longest = String(repeating: "t", count: 65_535)
    static let tooLong = String(repeating: "t", count: 65_536)

    @Test("topic names", arguments: [
        ("a", nil as TopicError?), ("a/b", nil), ("/", nil), ("a//b", nil), ("/finance", nil), ("finance/", nil),
        ("sport/tennis/player1", nil), ("$SYS/broker", nil), (" ", nil), ("日本/語", nil), (longest, nil),
        ("", .empty), (tooLong, .tooLong),
        ("+", .wildcardInTopicName), ("#", .wildcardInTopicName), ("a/+", .wildcardInTopicName),
        ("sport/#", .wildcardInTopicName), ("sport#", .wildcardInTopicName), ("a+b", .wildcardInTopicName),
    ])
    func names(_ topic: String, expected: TopicError?) {
        #expect(Topic.validateName(topic) == expected)
    }

    @Test("topic filters", arguments: [
        ("#", nil as TopicError?), ("+", nil), ("sport/#", nil), ("sport/tennis/#", nil), ("+/+", nil), ("/+", nil),
        ("+/tennis/#", nil), ("sport/+/player1", nil), ("a//b", nil), ("/", nil), ("$SYS/#", nil), ("a/+/#", nil),
        ("+/", nil), ("//#", nil), ("a/b", nil), (longest, nil),
        ("", .empty), (tooLong, .tooLong),
        ("sport#", .misplacedMultiLevelWildcard), ("sport/tennis#", .misplacedMultiLevelWildcard),
        ("sport/#/ranking", .misplacedMultiLevelWildcard), ("#/", .misplacedMultiLevelWildcard),
        ("##", .misplacedMultiLevelWildcard), ("a/#b", .misplacedMultiLevelWildcard),
        ("sport/+tennis", .misplacedSingleLevelWildcard), ("sport+", .misplacedSingleLevelWildcard),
        ("+a", .misplacedSingleLevelWildcard), ("a+/b", .misplacedSingleLevelWildcard),
        ("++", .misplacedSingleLevelWildcard), ("+#", .misplacedSingleLevelWildcard),
    ])
    func filters(_ filter: String, expected: TopicError?) {
        #expect(Topic.validateFilter(filter) == expected)
    }

    @Test("control characters are refused in names and filters; other characters are not", arguments: [
        ("a\u{01}b", true), ("a/\u{1F}", true), ("\u{7F}", true), ("x\u{80}", true), ("x\u{85}y", true), ("\u{9F}", true),
        ("\t", true), ("\n", true), ("a b", false), ("\u{A0}", false), ("é", false), ("\u{0100}", false), ("ą/Ÿ", false),
        ("日本", false), ("😀", false), ("\u{FEFF}", false),
    ])
    func controlCharacters(_ text: String, refused: Bool) {
        #expect(Topic.containsControlCharacter(text) == refused)
        #expect((Topic.validateName(text) == .controlCharacter) == refused)
        #expect((Topic.validateFilter(text) == .controlCharacter) == refused)
        #expect((Topic.validateFilter(text + "/#") == .controlCharacter) == refused)
        // A share name (or, past a '/', the filter) with a control character is refused too.
        let shared = Result { try SharedSubscription.parse("$share/g\(text)/t") }
        if refused {
            #expect(throws: TopicError.self) { try shared.get() }
            #expect(throws: TopicError.controlCharacter) { try SharedSubscription.parse("$share/\(String(text.filter { $0 != "/" }))/t") }
        } else {
            #expect(throws: Never.self) { try shared.get() }
        }
    }

    @Test("hasWildcard", arguments: [
        ("a/+", true), ("#", true), ("a/b/#", true), ("a/b", false), ("", false), ("$SYS/x", false),
    ])
    func hasWildcard(_ filter: String, expected: Bool) {
        #expect(Topic.hasWildcard(filter) == expected)
    }

    @Test("matching", arguments: [
        // 4.7.1.2: the multi-level wildcard matches the parent level and any number of child levels.
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/tennis/player1/#", "sport/tennis/player2", false),
        ("sport/#", "sport", true),
        ("sport/tennis/#", "sport/tennis", true),
        ("sport/tennis/#", "sport/tennisX", false),
        ("#", "sport", true), ("#", "/", true), ("#", "a/b/c", true), ("#", "/finance", true),
        ("a/#", "a/", true), ("+/#", "a", true), ("sport/+/#", "sport", false),
        // 4.7.1.3: the single-level wildcard matches exactly one level, which may be empty.
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player2", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("a/+/c", "a//c", true),
        ("+/b", "/b", true),
        ("+/+", "/", true),
        ("+/tennis/#", "sport/tennis/player1/ranking", true),
        // 4.7.2: a leading wildcard never matches a topic that starts with $.
        ("#", "$SYS/monitor/Clients", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("+", "$SYS", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("$SYS/#", "$SYS", true),
        ("$aws/things/+/shadow/update", "$aws/things/lamp/shadow/update", true),
        // Plain comparison: case-sensitive, level by level, empty levels count.
        ("a/b", "a/b", true), ("a/b", "a/b/c", false), ("a/b/c", "a/b", false), ("a/b", "a/b/", false),
        ("ACCOUNTS", "Accounts", false), ("/", "/", true), ("a//b", "a/b", false),
        ("ü/+", "ü/x", true), ("a b/+", "a b/c", true),
    ])
    func matching(filter: String, topic: String, expected: Bool) {
        #expect(Topic.matches(filter: filter, topic: topic) == expected)
    }

    /// A second, recursive implementation of the matching rules, to cross-check many generated pairs.
    static func referenceMatch(filter: String, topic: String) -> Bool {
        if topic.hasPrefix("$") && (filter.hasPrefix("+") || filter.hasPrefix("#")) { return false }
        let f = filter.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let t = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == f.count { return j == t.count }
            if f[i] == "#" { return true }
            if j == t.count { return false }
            return (f[i] == "+" || f[i] == t[j]) && match(i + 1, j + 1)
        }
        return match(0, 0)
    }

    @Test("matching agrees with a reference implementation on generated filters and topics")
    func matchingAgainstReference() {
        var rng = SeededGenerator(seed: 0x70_71C)
        let filterLevels = ["a", "b", "", "+", "#", "$SYS"]
        let topicLevels = ["a", "b", "", "$SYS"]
        func join(_ levels: [String]) -> String { levels.joined(separator: "/") }
        var checked = 0
        var matched = 0
        for _ in 0..<5_000 {
            let filter = join((0..<Int.random(in: 1...4, using: &rng)).map { _ in filterLevels.randomElement(using: &rng)! })
            let topic = join((0..<Int.random(in: 1...4, using: &rng)).map { _ in topicLevels.randomElement(using: &rng)! })
            guard Topic.validateFilter(filter) == nil, Topic.validateName(topic) == nil else { continue }
            let expected = Self.referenceMatch(filter: filter, topic: topic)
            #expect(Topic.matches(filter: filter, topic: topic) == expected, "\(filter) vs \(topic)")
            // A valid topic name used as a filter matches itself.
            #expect(Topic.matches(filter: topic, topic: topic), "\(topic) vs itself")
            checked += 1
            if expected { matched += 1 }
        }
        #expect(checked > 1_000)
        #expect(matched > 100)
    }

    @Test("levelSeparatorCount", arguments: [
        ("", 0), ("a", 0), ("/", 1), ("a/b/c", 2), ("a//b", 2), ("$aws/things/x/shadow/update", 4),
        ("/a/b/c/d/e/f/g", 7), ("a/b/c/d/e/f/g/h/", 8),
    ])
    func levelSeparators(_ topic: String, expected: Int) {
        #expect(Topic.levelSeparatorCount(topic) == expected)
    }

    // MARK: shared subscriptions

    @Test("valid shared subscriptions", arguments: [
        ("$share/g/a/+", "g", "a/+"), ("$share/group-1/#", "group-1", "#"), ("$share/g/$SYS/#", "g", "$SYS/#"),
        ("$share/g//", "g", "/"), ("$share/ü/x", "ü", "x"),
    ])
    func validShared(_ filter: String, shareName: String, inner: String) throws {
        let shared = try SharedSubscription.parse(filter)
        #expect(shared == SharedSubscription(shareName: shareName, filter: inner))
    }

    @Test("invalid shared subscriptions throw", arguments: [
        "$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/+/a", "$share/g/a#", "$share",
        "$share/g/", "$share/", "$share/g/a/#/b", "$share/g/sport+",
    ])
    func invalidShared(_ filter: String) {
        do {
            let shared = try SharedSubscription.parse(filter)
            Issue.record("parsed \(String(describing: shared))")
        } catch {
            guard case .invalidSharedSubscription(let why) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(!why.isEmpty)
        }
    }

    @Test("filters that are not shared subscriptions parse to nil", arguments: [
        "a/b", "$SYS/#", "$sharex/g/a", "share/g/a", "#", "$SHARE/g/a", "a/$share/g/b", "",
    ])
    func notShared(_ filter: String) throws {
        #expect(try SharedSubscription.parse(filter) == nil)
    }

    @Test("every TopicError describes itself")
    func descriptions() {
        let errors: [TopicError] = [
            .empty, .tooLong, .wildcardInTopicName, .misplacedMultiLevelWildcard, .misplacedSingleLevelWildcard,
            .invalidSharedSubscription("why"),
        ]
        #expect(Set(errors.map(\.description)).count == errors.count)
        #expect(TopicError.invalidSharedSubscription("why").description.contains("why"))
    }
}
