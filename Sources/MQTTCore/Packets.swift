import NIOCore

/// The fourteen MQTT control packet types (plus AUTH, MQTT 5 only).
public enum PacketType: UInt8, Sendable, Hashable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe,
         unsuback, pingreq, pingresp, disconnect, auth
}

/// One MQTT control packet, either version. The protocol version is a property of the connection and is
/// passed to the encoder; CONNECT carries its own.
public enum MQTTPacket: Sendable, Hashable {
    indirect case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(AckPacket)
    case pubrec(AckPacket)
    case pubrel(AckPacket)
    case pubcomp(AckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)

    public var type: PacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }

    /// The packet without the properties a sender may leave out to respect the receiver's Maximum Packet
    /// Size (Reason String and User Properties); nil for packets that have no such properties or carry
    /// none (PUBLISH is never trimmed: its user properties belong to the application message).
    public var withoutOptionalProperties: MQTTPacket? {
        func trimmed<P>(_ packet: P, _ wrap: (P) -> MQTTPacket, _ properties: WritableKeyPath<P, MQTTProperties>) -> MQTTPacket? {
            guard packet[keyPath: properties].reasonString != nil || !packet[keyPath: properties].userProperties.isEmpty else { return nil }
            var copy = packet
            copy[keyPath: properties].reasonString = nil
            copy[keyPath: properties].userProperties = []
            return wrap(copy)
        }
        switch self {
        case .connack(let p): return trimmed(p, MQTTPacket.connack, \.properties)
        case .puback(let p): return trimmed(p, MQTTPacket.puback, \.properties)
        case .pubrec(let p): return trimmed(p, MQTTPacket.pubrec, \.properties)
        case .pubrel(let p): return trimmed(p, MQTTPacket.pubrel, \.properties)
        case .pubcomp(let p): return trimmed(p, MQTTPacket.pubcomp, \.properties)
        case .suback(let p): return trimmed(p, MQTTPacket.suback, \.properties)
        case .unsuback(let p): return trimmed(p, MQTTPacket.unsuback, \.properties)
        case .disconnect(let p): return trimmed(p, MQTTPacket.disconnect, \.properties)
        case .auth(let p): return trimmed(p, MQTTPacket.auth, \.properties)
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp: return nil
        }
    }
}

/// The Will message declared in CONNECT.
public struct Will: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var properties: PublishProperties
    /// MQTT 5 Will Delay Interval in seconds; nil when absent (0).
    public var delayInterval: UInt32?

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
        properties: PublishProperties = .none, delayInterval: UInt32? = nil
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.delayInterval = delayInterval
    }
}

public struct ConnectPacket: Sendable, Hashable {
    public var protocolVersion: ProtocolVersion
    /// Clean Session (3.1.1) or Clean Start (5).
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var clientID: String
    public var will: Will?
    public var username: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties

    public init(
        protocolVersion: ProtocolVersion = .v5, cleanStart: Bool = true, keepAlive: UInt16 = 60,
        clientID: String, will: Will? = nil, username: String? = nil, password: ByteBuffer? = nil,
        properties: MQTTProperties = .none
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientID = clientID
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
    }
}

public struct ConnAckPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    /// The MQTT 5 reason code; for 3.1.1 it is mapped to and from the return code.
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

public struct PublishPacket: Sendable, Hashable {
    /// Empty only when an MQTT 5 topic alias names the topic.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when QoS > 0.
    public var packetID: UInt16?
    public var properties: PublishProperties

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
        packetID: UInt16? = nil, properties: PublishProperties = .none
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
public struct AckPacket: Sendable, Hashable {
    public var packetID: UInt16
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.packetID = packetID
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// MQTT 5 Retain Handling subscription option.
public enum RetainHandling: UInt8, Sendable, Hashable {
    /// Send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// Send them only if the subscription did not exist before.
    case sendOnSubscribeIfNew = 1
    /// Never send retained messages on subscribe.
    case doNotSend = 2
}

public struct SubscriptionOptions: Sendable, Hashable {
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(
        qos: QoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: RetainHandling = .sendOnSubscribe
    ) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

public struct TopicSubscription: Sendable, Hashable {
    public var filter: String
    public var options: SubscriptionOptions

    public init(filter: String, options: SubscriptionOptions = .init()) {
        self.filter = filter
        self.options = options
    }

    public init(_ filter: String, qos: QoS) {
        self.init(filter: filter, options: .init(qos: qos))
    }
}

public struct SubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var subscriptions: [TopicSubscription]
    public var properties: MQTTProperties

    public init(packetID: UInt16, subscriptions: [TopicSubscription], properties: MQTTProperties = .none) {
        self.packetID = packetID
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

public struct SubAckPacket: Sendable, Hashable {
    public var packetID: UInt16
    /// One per requested filter: granted QoS (0x00, 0x01) or a failure code. 3.1.1 turns every failure
    /// into 0x80.
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = .none) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

public struct UnsubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var filters: [String]
    public var properties: MQTTProperties

    public init(packetID: UInt16, filters: [String], properties: MQTTProperties = .none) {
        self.packetID = packetID
        self.filters = filters
        self.properties = properties
    }
}

public struct UnsubAckPacket: Sendable, Hashable {
    public var packetID: UInt16
    /// MQTT 5 only; a 3.1.1 UNSUBACK carries none.
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCodes: [ReasonCode] = [], properties: MQTTProperties = .none) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

public struct DisconnectPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: ReasonCode = .normalDisconnection, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

public struct AuthPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
