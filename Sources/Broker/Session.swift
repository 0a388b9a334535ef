import DequeModule
import MQTTCore
import NIOCore

/// A message on its way to one session: the shared stored message plus what this subscriber's
/// subscription made of it.
struct Delivery {
    var message: StoredMessage
    var qos: QoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
}

/// A QoS 1 message sent and not yet acknowledged.
struct InflightMessage {
    var packetID: UInt16
    var delivery: Delivery
}

/// One subscription held by a session, under its full filter text.
struct SessionSubscription {
    var filter: String
    var shareName: String?
    var entry: SubscriptionEntry
}

/// The MQTT session: what outlives a connection when the client asked for a persistent session
/// (subscriptions, unacknowledged and queued QoS 1 messages, a delayed will).
final class Session {
    let key: SessionKey
    let clientID: String
    var protocolVersion: ProtocolVersion
    /// Seconds the session survives its connection. 0: it ends with the connection.
    var expiryInterval: UInt32
    var connection: ConnectionID?
    /// The connected client's authorization, for Receive on every delivery; nil while offline.
    var authorization: (any ConnectionAuthorization)?
    var disconnectedAt: BrokerInstant?
    /// Why its last connection ended (GetConnection's disconnectReason).
    var lastDisconnectReason: DisconnectReason?
    var subscriptions: [TopicKey: SessionSubscription] = [:]
    /// Deques allocate nothing while empty, so an idle session costs no ring buffers.
    var inflight = Deque<InflightMessage>()
    private var inflightIDs = Set<UInt16>()
    var pending = Deque<Delivery>()
    var sendWindow: Int
    var maximumPacketSize: Int = .max
    private var nextPacketID: UInt16 = 1
    /// Publishers held back because this session's queue is over its high-water mark, oldest first.
    var heldPublishers = HeldPublishers()
    /// Messages dropped since the queue filled up (logged once when it fills and once when it drains).
    var droppedWhileFull = 0
    /// A will waiting out its delay interval after the connection ended, with what its connection was
    /// authorized from (it is authorized again when it goes out).
    var pendingWill: (message: StoredMessage, due: BrokerInstant, request: ConnectAuthorizationRequest?)?

    init(key: SessionKey, clientID: String, protocolVersion: ProtocolVersion, expiryInterval: UInt32, sendWindow: Int) {
        self.key = key
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.expiryInterval = expiryInterval
        self.sendWindow = sendWindow
    }

    var hasWindow: Bool { inflight.count < sendWindow }

    /// Allocates a packet identifier not used by any unacknowledged message.
    func allocatePacketID() -> UInt16 {
        while true {
            let id = nextPacketID
            nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
            if !inflightIDs.contains(id) { return id }
        }
    }

    func addInflight(_ message: InflightMessage) {
        inflight.append(message)
        inflightIDs.insert(message.packetID)
    }

    /// Removes an acknowledged message. Returns false for an unknown packet identifier.
    func acknowledge(_ packetID: UInt16) -> Bool {
        guard inflightIDs.remove(packetID) != nil else { return false }
        if inflight.first?.packetID == packetID {
            inflight.removeFirst()
        } else if let index = inflight.firstIndex(where: { $0.packetID == packetID }) {
            inflight.remove(at: index)
        }
        return true
    }

    /// Before a session waits offline: its unacknowledged messages must not pin network read buffers.
    func compactInflight() {
        for index in inflight.indices { inflight[index].delivery.message.compact() }
    }

    func clearInflight() {
        inflight.removeAll()
        inflightIDs.removeAll()
    }
}

/// The publishers one session holds back, in the order they were held, each once: released oldest
/// first, a few at a time, so a thousand held publishers do not all resume into one queue at once.
struct HeldPublishers {
    private var order = Deque<ConnectionID>()
    private var members = Set<ConnectionID>()
    /// When the held publishers' pauses were last extended (they expire unless the queue drains).
    var lastExtended: BrokerInstant?

    var isEmpty: Bool { order.isEmpty }
    var count: Int { order.count }
    var all: Deque<ConnectionID> { order }

    /// Returns false if the publisher was already held.
    mutating func hold(_ id: ConnectionID) -> Bool {
        guard members.insert(id).inserted else { return false }
        order.append(id)
        return true
    }

    mutating func releaseOldest() -> ConnectionID? {
        guard let id = order.popFirst() else { return nil }
        members.remove(id)
        return id
    }

    mutating func removeAll() -> Deque<ConnectionID> {
        let released = order
        order.removeAll()
        members.removeAll()
        lastExtended = nil
        return released
    }
}
