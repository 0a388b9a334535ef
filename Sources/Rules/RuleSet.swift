import IoTSQL
import MQTTCore

/// A namespace's enabled rules, as the broker asks them per message: which rules a topic triggers (their
/// FROM filters), or which one a Basic Ingest topic (`$aws/rules/<ruleName>/<rest>`) names.
public struct RuleSet: Sendable {
    public let rules: [CompiledTopicRule]
    private let byName: [String: CompiledTopicRule]
    /// Filters without wildcards, by topic: most rules name one topic, so most lookups are one hash.
    private let exact: [String: [Int]]
    /// Wildcard filters, each once with every rule that names it: a topic is matched once per distinct filter.
    private let wildcard: [(filter: String, rules: [Int])]

    public static let basicIngestPrefix = "$aws/rules/"

    public init(_ all: [CompiledTopicRule]) {
        let enabled = all.filter { !$0.disabled }
        rules = enabled
        byName = Dictionary(enabled.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var exact: [String: [Int]] = [:]
        var wildcard: [String: [Int]] = [:]
        var order: [String] = []
        for (index, rule) in enabled.enumerated() {
            guard let filter = rule.statement.topicFilter else { continue }
            if Topic.hasWildcard(filter) {
                if wildcard[filter] == nil { order.append(filter) }
                wildcard[filter, default: []].append(index)
            } else {
                exact[filter, default: []].append(index)
            }
        }
        self.exact = exact
        self.wildcard = order.map { ($0, wildcard[$0]!) }
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// The rules a message on `topic` triggers, each with the topic its SQL sees. A Basic Ingest topic
    /// triggers only the rule it names (its FROM filter is not consulted), with the prefix removed.
    public func matching(topic: String) -> [(rule: CompiledTopicRule, topic: String)] {
        if let (name, rest) = Self.basicIngest(topic) {
            return byName[name].map { [($0, rest)] } ?? []
        }
        var indexes = exact[topic] ?? []
        for (filter, named) in wildcard where Topic.matches(filter: filter, topic: topic) { indexes += named }
        return indexes.sorted().map { (rules[$0], topic) }
    }

    /// Whether any rule's FROM filter takes `topic` (the broker asks this per message, under its lock:
    /// one hash lookup, then the wildcard filters, allocating nothing).
    public func wants(topic: String) -> Bool {
        exact[topic] != nil || wildcard.contains { Topic.matches(filter: $0.filter, topic: topic) }
    }

    /// `$aws/rules/<ruleName>/<rest>` as (ruleName, rest); nil for any other topic.
    public static func basicIngest(_ topic: String) -> (ruleName: String, topic: String)? {
        guard topic.hasPrefix(basicIngestPrefix) else { return nil }
        let remainder = topic.dropFirst(basicIngestPrefix.count)
        guard let slash = remainder.firstIndex(of: "/") else { return remainder.isEmpty ? nil : (String(remainder), "") }
        return (String(remainder[..<slash]), String(remainder[remainder.index(after: slash)...]))
    }
}
