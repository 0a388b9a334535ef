import MQTTCore

/// Internal identifier of a session (stable across its connections).
typealias SessionKey = UInt64

/// One subscription as the index stores it.
struct SubscriptionEntry: Hashable {
    var options: SubscriptionOptions
    var identifier: UInt32?
}

/// The members of one shared subscription group (`$share/{name}/{filter}`). Each message goes to one
/// member, chosen round robin among the online ones.
final class SharedGroup {
    let shareName: String
    let filter: String
    private(set) var members: [SessionKey] = []
    private(set) var entries: [SessionKey: SubscriptionEntry] = [:]
    var cursor = 0

    init(shareName: String, filter: String) {
        self.shareName = shareName
        self.filter = filter
    }

    var isEmpty: Bool { members.isEmpty }

    func upsert(_ session: SessionKey, _ entry: SubscriptionEntry) {
        if entries.updateValue(entry, forKey: session) == nil { members.append(session) }
    }

    func remove(_ session: SessionKey) {
        guard entries.removeValue(forKey: session) != nil else { return }
        members.removeAll { $0 == session }
        if cursor >= members.count { cursor = 0 }
    }
}

/// A trie of topic filters by level. Matching a topic walks at most the topic's levels once per
/// wildcard branch, independent of the number of subscriptions: this is the structure on the hot path.
final class SubscriptionIndex {
    final class Node {
        var children: [TopicLevel: Node] = [:]
        var plus: Node?
        var hash: Node?
        var subscribers: [SessionKey: SubscriptionEntry] = [:]
        var shared: [String: SharedGroup] = [:]

        var isEmpty: Bool {
            children.isEmpty && plus == nil && hash == nil && subscribers.isEmpty && shared.isEmpty
        }
    }

    private let root = Node()
    private(set) var count = 0

    /// Adds or replaces a subscription. Returns true if it did not exist before.
    @discardableResult
    func insert(filter: String, shareName: String?, session: SessionKey, entry: SubscriptionEntry) -> Bool {
        var node = root
        for level in filter.topicLevels {
            node = child(of: node, level: level, create: true)!
        }
        if let shareName {
            let group: SharedGroup
            if let existing = node.shared[shareName] {
                group = existing
            } else {
                group = SharedGroup(shareName: shareName, filter: filter)
                node.shared[shareName] = group
            }
            let isNew = group.entries[session] == nil
            group.upsert(session, entry)
            if isNew { count += 1 }
            return isNew
        }
        let isNew = node.subscribers.updateValue(entry, forKey: session) == nil
        if isNew { count += 1 }
        return isNew
    }

    /// Removes a subscription. Returns true if it existed.
    @discardableResult
    func remove(filter: String, shareName: String?, session: SessionKey) -> Bool {
        var path: [(Node, Substring)] = []
        var node = root
        for level in filter.topicLevels {
            guard let next = child(of: node, level: level, create: false) else { return false }
            path.append((node, level))
            node = next
        }
        let removed: Bool
        if let shareName {
            guard let group = node.shared[shareName], group.entries[session] != nil else { return false }
            group.remove(session)
            if group.isEmpty { node.shared[shareName] = nil }
            removed = true
        } else {
            removed = node.subscribers.removeValue(forKey: session) != nil
        }
        guard removed else { return false }
        count -= 1
        // Prune empty nodes bottom-up so the trie never keeps garbage from old filters.
        var current = node
        for (parent, level) in path.reversed() {
            guard current.isEmpty else { break }
            switch level {
            case "+": parent.plus = nil
            case "#": parent.hash = nil
            default: parent.children[TopicLevel(level)] = nil
            }
            current = parent
        }
        return true
    }

    private func child(of node: Node, level: Substring, create: Bool) -> Node? {
        switch level {
        case "+":
            if node.plus == nil && create { node.plus = Node() }
            return node.plus
        case "#":
            if node.hash == nil && create { node.hash = Node() }
            return node.hash
        default:
            let key = TopicLevel(level)
            if let existing = node.children[key] { return existing }
            guard create else { return nil }
            let new = Node()
            node.children[key] = new
            return new
        }
    }

    /// Calls `visit` for every node whose filter matches `topic` (MQTT rules: `#` also matches the
    /// parent level; a leading wildcard does not match a topic starting with `$`).
    func forEachMatch(topic: String, _ visit: (Node) -> Void) {
        topic.splitTopicLevels(into: &levelScratch)
        let isSystem = topic.utf8.first == UInt8(ascii: "$")
        match(root, levelScratch, 0, isSystem: isSystem, visit)
    }

    /// Reused by `forEachMatch`, so splitting a topic allocates nothing once warm.
    private var levelScratch: [Substring] = []

    private func match(_ node: Node, _ levels: [Substring], _ index: Int, isSystem: Bool, _ visit: (Node) -> Void) {
        let atRoot = index == 0
        if let hash = node.hash, !(atRoot && isSystem) { visit(hash) }
        if index == levels.count {
            visit(node)
            return
        }
        if let next = node.children[TopicLevel(levels[index])] {
            match(next, levels, index + 1, isSystem: isSystem, visit)
        }
        if let plus = node.plus, !(atRoot && isSystem) {
            match(plus, levels, index + 1, isSystem: isSystem, visit)
        }
    }
}
