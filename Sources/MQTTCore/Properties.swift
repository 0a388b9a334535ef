import NIOCore

/// The MQTT 5 properties of every packet but PUBLISH (which uses the smaller `PublishProperties`, since
/// it is the packet on the hot path and the one stored in queues).
///
/// A nil field was absent on the wire. The codec checks the per-packet allow list and value rules; the
/// meaning of each field is the broker's business.
public struct MQTTProperties: Sendable, Hashable {
    public var sessionExpiryInterval: UInt32?
    public var assignedClientIdentifier: String?
    public var serverKeepAlive: UInt16?
    public var authenticationMethod: String?
    public var authenticationData: ByteBuffer?
    public var requestProblemInformation: Bool?
    public var requestResponseInformation: Bool?
    public var responseInformation: String?
    public var serverReference: String?
    public var reasonString: String?
    public var receiveMaximum: UInt16?
    public var topicAliasMaximum: UInt16?
    public var maximumQoS: QoS?
    public var retainAvailable: Bool?
    public var maximumPacketSize: UInt32?
    public var wildcardSubscriptionAvailable: Bool?
    public var subscriptionIdentifierAvailable: Bool?
    public var sharedSubscriptionAvailable: Bool?
    /// SUBSCRIBE only: at most one.
    public var subscriptionIdentifier: UInt32?
    public var userProperties: [UserProperty]

    public init(
        sessionExpiryInterval: UInt32? = nil,
        assignedClientIdentifier: String? = nil,
        serverKeepAlive: UInt16? = nil,
        authenticationMethod: String? = nil,
        authenticationData: ByteBuffer? = nil,
        requestProblemInformation: Bool? = nil,
        requestResponseInformation: Bool? = nil,
        responseInformation: String? = nil,
        serverReference: String? = nil,
        reasonString: String? = nil,
        receiveMaximum: UInt16? = nil,
        topicAliasMaximum: UInt16? = nil,
        maximumQoS: QoS? = nil,
        retainAvailable: Bool? = nil,
        maximumPacketSize: UInt32? = nil,
        wildcardSubscriptionAvailable: Bool? = nil,
        subscriptionIdentifierAvailable: Bool? = nil,
        sharedSubscriptionAvailable: Bool? = nil,
        subscriptionIdentifier: UInt32? = nil,
        userProperties: [UserProperty] = []
    ) {
        self.sessionExpiryInterval = sessionExpiryInterval
        self.assignedClientIdentifier = assignedClientIdentifier
        self.serverKeepAlive = serverKeepAlive
        self.authenticationMethod = authenticationMethod
        self.authenticationData = authenticationData
        self.requestProblemInformation = requestProblemInformation
        self.requestResponseInformation = requestResponseInformation
        self.responseInformation = responseInformation
        self.serverReference = serverReference
        self.reasonString = reasonString
        self.receiveMaximum = receiveMaximum
        self.topicAliasMaximum = topicAliasMaximum
        self.maximumQoS = maximumQoS
        self.retainAvailable = retainAvailable
        self.maximumPacketSize = maximumPacketSize
        self.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable
        self.subscriptionIdentifierAvailable = subscriptionIdentifierAvailable
        self.sharedSubscriptionAvailable = sharedSubscriptionAvailable
        self.subscriptionIdentifier = subscriptionIdentifier
        self.userProperties = userProperties
    }

    public static let none = MQTTProperties()
    public var isEmpty: Bool { self == .none }
}

/// Whether a payload is declared as bytes or UTF-8 text (MQTT 5 Payload Format Indicator).
public enum PayloadFormat: UInt8, Sendable, Hashable {
    case unspecifiedBytes = 0
    case utf8 = 1
}

/// The properties a PUBLISH (or a Will, which becomes one) carries.
public struct PublishProperties: Sendable, Hashable {
    public var payloadFormat: PayloadFormat?
    public var messageExpiryInterval: UInt32?
    public var topicAlias: UInt16?
    public var responseTopic: String?
    public var correlationData: ByteBuffer?
    public var userProperties: [UserProperty]
    /// Server to client only: the identifiers of every matching subscription.
    public var subscriptionIdentifiers: [UInt32]
    public var contentType: String?

    public init(
        payloadFormat: PayloadFormat? = nil,
        messageExpiryInterval: UInt32? = nil,
        topicAlias: UInt16? = nil,
        responseTopic: String? = nil,
        correlationData: ByteBuffer? = nil,
        userProperties: [UserProperty] = [],
        subscriptionIdentifiers: [UInt32] = [],
        contentType: String? = nil
    ) {
        self.payloadFormat = payloadFormat
        self.messageExpiryInterval = messageExpiryInterval
        self.topicAlias = topicAlias
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.userProperties = userProperties
        self.subscriptionIdentifiers = subscriptionIdentifiers
        self.contentType = contentType
    }

    public static let none = PublishProperties()
    public var isEmpty: Bool {
        payloadFormat == nil && messageExpiryInterval == nil && topicAlias == nil && responseTopic == nil
            && correlationData == nil && userProperties.isEmpty && subscriptionIdentifiers.isEmpty
            && contentType == nil
    }
}

/// The decoded value of one property, before it is stored in a property struct.
enum PropertyValue {
    case byte(UInt8)
    case twoByte(UInt16)
    case fourByte(UInt32)
    case variableByte(UInt32)
    case string(String)
    case binary(ByteBuffer)
    case stringPair(String, String)
}

/// Receives decoded properties; implemented by each property struct so one decode loop serves all.
protocol PropertySink {
    mutating func set(_ id: PropertyIdentifier, _ value: PropertyValue) throws(MQTTCodecError)
}

extension PropertyValue {
    func byte() -> UInt8 { if case .byte(let v) = self { v } else { 0 } }
    func twoByte() -> UInt16 { if case .twoByte(let v) = self { v } else { 0 } }
    func fourByte() -> UInt32 { if case .fourByte(let v) = self { v } else { 0 } }
    func variableByte() -> UInt32 { if case .variableByte(let v) = self { v } else { 0 } }
    func string() -> String { if case .string(let v) = self { v } else { "" } }
    func binary() -> ByteBuffer { if case .binary(let v) = self { v } else { ByteBuffer() } }

    /// A Byte property whose only legal values are 0 and 1.
    func flag(_ id: PropertyIdentifier) throws(MQTTCodecError) -> Bool {
        switch byte() {
        case 0: return false
        case 1: return true
        default: throw .protocolError("property \(id) must be 0 or 1")
        }
    }
}

extension MQTTProperties: PropertySink {
    mutating func set(_ id: PropertyIdentifier, _ value: PropertyValue) throws(MQTTCodecError) {
        switch id {
        case .sessionExpiryInterval: sessionExpiryInterval = value.fourByte()
        case .assignedClientIdentifier: assignedClientIdentifier = value.string()
        case .serverKeepAlive: serverKeepAlive = value.twoByte()
        case .authenticationMethod: authenticationMethod = value.string()
        case .authenticationData: authenticationData = value.binary()
        case .requestProblemInformation: requestProblemInformation = try value.flag(id)
        case .requestResponseInformation: requestResponseInformation = try value.flag(id)
        case .responseInformation: responseInformation = value.string()
        case .serverReference: serverReference = value.string()
        case .reasonString: reasonString = value.string()
        case .receiveMaximum:
            guard value.twoByte() != 0 else { throw .protocolError("Receive Maximum must not be 0") }
            receiveMaximum = value.twoByte()
        case .topicAliasMaximum: topicAliasMaximum = value.twoByte()
        case .maximumQoS:
            guard value.byte() <= 1 else { throw .protocolError("Maximum QoS must be 0 or 1") }
            maximumQoS = QoS(rawValue: value.byte())
        case .retainAvailable: retainAvailable = try value.flag(id)
        case .maximumPacketSize:
            guard value.fourByte() != 0 else { throw .protocolError("Maximum Packet Size must not be 0") }
            maximumPacketSize = value.fourByte()
        case .wildcardSubscriptionAvailable: wildcardSubscriptionAvailable = try value.flag(id)
        case .subscriptionIdentifierAvailable: subscriptionIdentifierAvailable = try value.flag(id)
        case .sharedSubscriptionAvailable: sharedSubscriptionAvailable = try value.flag(id)
        case .subscriptionIdentifier:
            guard value.variableByte() != 0 else { throw .protocolError("Subscription Identifier must not be 0") }
            subscriptionIdentifier = value.variableByte()
        case .userProperty:
            if case .stringPair(let k, let v) = value { userProperties.append(UserProperty(k, v)) }
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
             .willDelayInterval, .topicAlias:
            throw .malformed("property \(id) not allowed here")
        }
    }
}

extension PublishProperties: PropertySink {
    mutating func set(_ id: PropertyIdentifier, _ value: PropertyValue) throws(MQTTCodecError) {
        switch id {
        case .payloadFormatIndicator:
            guard let format = PayloadFormat(rawValue: value.byte()) else {
                throw .protocolError("Payload Format Indicator must be 0 or 1")
            }
            payloadFormat = format
        case .messageExpiryInterval: messageExpiryInterval = value.fourByte()
        case .topicAlias:
            guard value.twoByte() != 0 else { throw .protocolError("Topic Alias must not be 0") }
            topicAlias = value.twoByte()
        case .responseTopic: responseTopic = value.string()
        case .correlationData: correlationData = value.binary()
        case .userProperty:
            if case .stringPair(let k, let v) = value { userProperties.append(UserProperty(k, v)) }
        case .subscriptionIdentifier:
            guard value.variableByte() != 0 else { throw .protocolError("Subscription Identifier must not be 0") }
            subscriptionIdentifiers.append(value.variableByte())
        case .contentType: contentType = value.string()
        default:
            throw .malformed("property \(id) not allowed in PUBLISH")
        }
    }
}

/// The will section's properties: those of a PUBLISH plus the Will Delay Interval.
struct WillPropertySink: PropertySink {
    var properties = PublishProperties()
    var willDelayInterval: UInt32?

    mutating func set(_ id: PropertyIdentifier, _ value: PropertyValue) throws(MQTTCodecError) {
        switch id {
        case .willDelayInterval: willDelayInterval = value.fourByte()
        case .topicAlias, .subscriptionIdentifier: throw .malformed("property \(id) not allowed in a Will")
        default: try properties.set(id, value)
        }
    }
}
