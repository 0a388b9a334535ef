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
        payload = compact ? ByteBuffer(bytes: publish.payload.readableBytesView) : publish.payload
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

/// The retained message store: one message per topic, bounded in count and bytes.
final class RetainedStore {
    enum StoreResult: Equatable { case stored, deleted, quotaExceeded }

    private(set) var messages: [TopicKey: StoredMessage] = [:]
    private(set) var totalBytes = 0
    let maximumCount: Int
    let maximumBytes: Int

    init(maximumCount: Int, maximumBytes: Int) {
        self.maximumCount = maximumCount
        self.maximumBytes = maximumBytes
    }

    var count: Int { messages.count }

    /// Stores `message`, or deletes the topic's retained message if the payload is empty.
    func store(_ message: StoredMessage) -> StoreResult {
        let key = TopicKey(message.topic)
        let previousBytes = messages[key]?.payload.readableBytes
        if message.payload.readableBytes == 0 {
            if let previousBytes {
                messages[key] = nil
                totalBytes -= previousBytes
            }
            return .deleted
        }
        let newCount = messages.count + (previousBytes == nil ? 1 : 0)
        let newBytes = totalBytes - (previousBytes ?? 0) + message.payload.readableBytes
        guard newCount <= maximumCount, newBytes <= maximumBytes else { return .quotaExceeded }
        messages[key] = message
        totalBytes = newBytes
        return .stored
    }

    /// The live retained messages matching a filter, in no particular order.
    func matching(filter: String, at now: BrokerInstant) -> [StoredMessage] {
        if !Topic.hasWildcard(filter) {
            guard let message = messages[TopicKey(filter)], !message.isExpired(at: now) else { return [] }
            return [message]
        }
        return messages.values.filter { !$0.isExpired(at: now) && Topic.matches(filter: filter, topic: $0.topic) }
    }

    func message(topic: String) -> StoredMessage? { messages[TopicKey(topic)] }

    /// Drops expired messages.
    func purgeExpired(at now: BrokerInstant) {
        for (key, message) in messages where message.isExpired(at: now) {
            messages[key] = nil
            totalBytes -= message.payload.readableBytes
        }
    }
}
