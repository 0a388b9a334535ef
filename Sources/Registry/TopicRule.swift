import Foundation

/// A topic rule (botocore `iot`: CreateTopicRule and friends), as stored: its SQL and actions as the
/// caller gave them (the gateway checks and compiles them; actions with no local target are kept and
/// returned unchanged), and the FROM topic filter, for ListTopicRules.
public struct TopicRuleRecord: Sendable, Hashable, Codable {
    public var name: String
    public var sql: String
    public var description: String?
    public var awsIotSqlVersion: String
    public var ruleDisabled: Bool
    /// The FROM clause's topic filter; nil for a rule that only takes Basic Ingest messages.
    public var topicPattern: String?
    /// The `actions` array, as JSON text.
    public var actions: String
    /// The `errorAction` object, as JSON text.
    public var errorAction: String?
    public var createdAt: Double

    public init(name: String, sql: String, description: String?, awsIotSqlVersion: String, ruleDisabled: Bool, topicPattern: String?,
                actions: String, errorAction: String?, createdAt: Double) {
        self.name = name
        self.sql = sql
        self.description = description
        self.awsIotSqlVersion = awsIotSqlVersion
        self.ruleDisabled = ruleDisabled
        self.topicPattern = topicPattern
        self.actions = actions
        self.errorAction = errorAction
        self.createdAt = createdAt
    }
}

public enum TopicRuleRules {
    /// AWS's quota of rules per account and region.
    public static let maximumRules = 1000

    /// `^[a-zA-Z0-9_]+$`, 1 to 128 characters.
    public static func checkName(_ name: String) throws(RegistryError) {
        guard (1...128).contains(name.utf8.count), name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0)
            || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw RegistryError(.invalidRequest, "ruleName must be 1 to 128 characters of letters, digits and underscores.")
        }
    }

    /// AWS answers a rule that does not exist as a denial, not as a missing resource.
    static func denied(_ name: String) -> RegistryError {
        RegistryError(.unauthorized, "Access to topic rule '\(name.prefix(128))' was denied")
    }
}

extension RegistryState {
    public mutating func createTopicRule(_ record: TopicRuleRecord) throws(RegistryError) {
        try TopicRuleRules.checkName(record.name)
        guard topicRules[record.name] == nil else {
            throw RegistryError(.resourceAlreadyExists, "Topic rule \(record.name) already exists.", resourceID: record.name,
                                resourceARN: arns.topicRule(record.name))
        }
        guard topicRules.count < TopicRuleRules.maximumRules else {
            throw RegistryError(.limitExceeded, "At most \(TopicRuleRules.maximumRules) topic rules per account and region.")
        }
        topicRules[record.name] = record
    }

    public func topicRule(named name: String) throws(RegistryError) -> TopicRuleRecord {
        guard let record = topicRules[name] else { throw TopicRuleRules.denied(name) }
        return record
    }

    /// ReplaceTopicRule: everything but the name and creation time.
    public mutating func replaceTopicRule(_ record: TopicRuleRecord) throws(RegistryError) {
        let existing = try topicRule(named: record.name)
        var replaced = record
        replaced.createdAt = existing.createdAt
        topicRules[record.name] = replaced
    }

    public mutating func setTopicRuleDisabled(name: String, disabled: Bool) throws(RegistryError) {
        var record = try topicRule(named: name)
        record.ruleDisabled = disabled
        topicRules[name] = record
    }

    public mutating func deleteTopicRule(name: String) throws(RegistryError) {
        _ = try topicRule(named: name)
        topicRules[name] = nil
        forgetTags(of: arns.topicRule(name))
    }

    /// ListTopicRules: by name, optionally only those whose FROM is `topic` or that are (not) disabled.
    public func listTopicRules(topic: String?, ruleDisabled: Bool?, nextToken: String?, maxResults: Int?) throws(RegistryError)
        -> (rules: [TopicRuleRecord], nextToken: String?)
    {
        let rules = topicRules.values
            .filter { (topic == nil || $0.topicPattern == topic) && (ruleDisabled == nil || $0.ruleDisabled == ruleDisabled) }
            .sorted { $0.name < $1.name }
        let page = try Self.page(rules, key: \.name, marker: nextToken, pageSize: maxResults, maximum: 10_000, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// Every rule, for the gateway's rules engine.
    public var allTopicRules: [TopicRuleRecord] { topicRules.values.sorted { $0.name < $1.name } }
}
