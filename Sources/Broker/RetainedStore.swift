import MQTTCore
import NIOCore

/// A topic used as a dictionary key, compared by UTF-8 bytes (see `TopicLevel`).
struct TopicKey: Hashable {
    let topic: String
    init(_ topic: String) { self.topic = topic }
    static func == (lhs: TopicKey, rhs: TopicKey) -> Bool { lhs.topic.utf8.elementsEqual(rhs.topic.utf8) }
    func hash(into hasher: inout Hasher) { TopicLevel(Substring(topic)).hash(into: &hasher) }
}

/// A message kept for later delivery (retained, queued for an offline session, or a delayed will).
/// The payload is copied into its own storage, so a long-lived message never pins a large network read
/// buffer it was sliced from.
struct StoredMessage {
    var topic: String
    var payload: ByteBuffer
    var qos: QoS
    var retain: Bool
    var properties: PublishProperties
    var receivedAt: BrokerInstant
    /// When the MQTT 5 message expiry interval runs out, if it has one.
    var expiresAt: BrokerInstant?
    /// The session that published it, for the No Local option.
    var publisher: SessionKey?

    init(_ publish: PublishPacket, at now: BrokerInstant, publisher: SessionKey?, maximumExpiry: UInt32, compact: Bool) {
        topic = publish.topic
        payload = publish.payload
        qos = publish.qos
        retain = publish.retain
        var properties = publish.properties
        properties.topicAlias = nil
        properties.subscriptionIdentifiers = []
        if let interval = properties.messageExpiryInterval {
            // AWS: 0 is treated as 1 and values above the maximum are clamped.
            let clamped = min(max(interval, 1), maximumExpiry)
            properties.messageExpiryInterval = clamped
            expiresAt = now.adding(nanoseconds: .seconds(clamped))
        } else {
            expiresAt = nil
        }
        self.properties = properties
        receivedAt = now
        self.publisher = publisher
        if compact { self.compact() }
    }

    /// Copies the payload and correlation data out of the network read buffer they were sliced from.
    mutating func compact() {
        payload = ByteBuffer(bytes: payload.readableBytesView)
        if let data = properties.correlationData { properties.correlationData = ByteBuffer(bytes: data.readableBytesView) }
    }

    func isExpired(at now: BrokerInstant) -> Bool {
        guard let expiresAt else { return false }
        return now >= expiresAt
    }

    /// The properties to send now: the expiry interval counts down (AWS sends <= 999 ms left as 0).
    func outgoingProperties(at now: BrokerInstant) -> PublishProperties {
        var properties = self.properties
        if let expiresAt {
            let remaining = expiresAt.nanoseconds(since: now) / 1_000_000_000
            properties.messageExpiryInterval = UInt32(remaining)
        }
        return properties
    }
}

/// The retained message store: one message per topic, bounded in count and bytes, kept in a trie by
/// topic level so that a wildcard subscription visits only the branches its filter can match instead
/// of every retained message.
final class RetainedStore {
    enum StoreResult: Equatable { case stored, deleted, quotaExceeded }

    final class Node {
        var children: [TopicLevel: Node] = [:]
        var message: StoredMessage?
        /// Messages in this subtree, for pruning.
        var count = 0
    }

    private let root = Node()
    private(set) var count = 0
    private(set) var totalBytes = 0
    let maximumCount: Int
    let maximumBytes: Int

    init(maximumCount: Int, maximumBytes: Int) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
    }

    /// What a message costs against the byte quota: payload, topic and properties, so a message cannot
    /// hide its size in user properties.
    static func cost(_ message: StoredMessage) -> Int {
        message.payload.readableBytes + message.topic.utf8.count + message.properties.encodedLength
    }

    /// Stores `message`, or deletes the topic's retained message if the payload is empty.
    func store(_ message: StoredMessage) -> StoreResult {
        let levels = message.topic.topicLevels
        let previous = node(for: levels)?.message
        let previousCost = previous.map(Self.cost) ?? 0
        if message.payload.readableBytes == 0 {
            if previous != nil { remove(levels) }
            return .deleted
        }
        let newCount = count + (previous == nil ? 1 : 0)
        let newBytes = totalBytes - previousCost + Self.cost(message)
        guard newCount <= maximumCount, newBytes <= maximumBytes else { return .quotaExceeded }
        var node = root
        if previous == nil { node.count += 1 }
        for level in levels {
            let key = TopicLevel(level)
            let next = node.children[key] ?? Node()
            node.children[key] = next
            node = next
            if previous == nil { node.count += 1 }
        }
        node.message = message
        count = newCount
        totalBytes = newBytes
        return .stored
    }

    private func node(for levels: [Substring]) -> Node? {
        var node = root
        for level in levels {
            guard let next = node.children[TopicLevel(level)] else { return nil }
            node = next
        }
        return node
    }

    private func remove(_ levels: [Substring]) {
        var path: [Node] = [root]
        var node = root
        for level in levels {
            guard let next = node.children[TopicLevel(level)] else { return }
            path.append(next)
            node = next
        }
        guard let message = node.message else { return }
        node.message = nil
        count -= 1
        totalBytes -= Self.cost(message)
        for (depth, ancestor) in path.enumerated() {
            ancestor.count -= 1
            // Drop a branch once nothing is retained below it.
            if depth > 0, ancestor.count == 0 {
                path[depth - 1].children[TopicLevel(levels[depth - 1])] = nil
                break
            }
        }
    }

    /// The live retained messages matching a filter (MQTT matching rules), at most `limit` of them.
    func matching(filter: String, at now: BrokerInstant, limit: Int = .max) -> [StoredMessage] {
        var found: [StoredMessage] = []
        let levels = filter.topicLevels
        collect(root, levels, 0, now: now, limit: limit, into: &found)
        return found
    }

    private func collect(_ node: Node, _ levels: [Substring], _ index: Int, now: BrokerInstant, limit: Int,
                         into found: inout [StoredMessage]) {
        guard found.count < limit else { return }
        if index == levels.count {
            if let message = node.message, !message.isExpired(at: now) { found.append(message) }
            return
        }
        let level = levels[index]
        let atRoot = index == 0
        switch level {
        case "#":
            // '#' matches the parent level too, and below; never '$' topics from the root.
            if let message = node.message, !atRoot, !message.isExpired(at: now) { found.append(message) }
            collectSubtree(node, skipSystem: atRoot, now: now, limit: limit, into: &found)
        case "+":
            for (key, child) in node.children where !(atRoot && key.value.hasPrefix("$")) {
                collect(child, levels, index + 1, now: now, limit: limit, into: &found)
            }
        default:
            if let child = node.children[TopicLevel(level)] {
                collect(child, levels, index + 1, now: now, limit: limit, into: &found)
            }
        }
    }

    private func collectSubtree(_ node: Node, skipSystem: Bool, now: BrokerInstant, limit: Int,
                                into found: inout [StoredMessage]) {
        for (key, child) in node.children {
            guard found.count < limit else { return }
            if skipSystem && key.value.hasPrefix("$") { continue }
            if let message = child.message, !message.isExpired(at: now) { found.append(message) }
            collectSubtree(child, skipSystem: false, now: now, limit: limit, into: &found)
        }
    }

    func message(topic: String) -> StoredMessage? { node(for: topic.topicLevels)?.message }

    /// Every live retained message, `$` topics included (ListRetainedMessages).
    func all(at now: BrokerInstant) -> [StoredMessage] {
        var found: [StoredMessage] = []
        collectSubtree(root, skipSystem: false, now: now, limit: .max, into: &found)
        return found
    }

    /// Drops expired messages (a full walk: run from housekeeping, not per message).
    func purgeExpired(at now: BrokerInstant) {
        var expired: [String] = []
        func walk(_ node: Node) {
            if let message = node.message, message.isExpired(at: now) { expired.append(message.topic) }
            for child in node.children.values { walk(child) }
        }
        walk(root)
        for topic in expired { remove(topic.topicLevels) }
    }
}
