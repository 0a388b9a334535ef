import NIOCore

/// The MQTT 5 properties of every packet but PUBLISH (which uses the smaller `PublishProperties`, since
/// it is the packet on the hot path and the one stored in queues).
///
/// A nil field was absent on the wire. The codec checks the per-packet allow list and value rules; the
/// meaning of each field is the broker's business.
public struct MQTTProperties: Sendable, Hashable {
    /// Shared, copy-on-write storage; nil while every field is absent (the common case), so a packet
    /// without properties carries one word and copying it costs nothing.
    private var storage: Storage?

    private final class Storage: @unchecked Sendable {
        var sessionExpiryInterval: UInt32? = nil
        var assignedClientIdentifier: String? = nil
        var serverKeepAlive: UInt16? = nil
        var authenticationMethod: String? = nil
        var authenticationData: ByteBuffer? = nil
        var requestProblemInformation: Bool? = nil
        var requestResponseInformation: Bool? = nil
        var responseInformation: String? = nil
        var serverReference: String? = nil
        var reasonString: String? = nil
        var receiveMaximum: UInt16? = nil
        var topicAliasMaximum: UInt16? = nil
        var maximumQoS: QoS? = nil
        var retainAvailable: Bool? = nil
        var maximumPacketSize: UInt32? = nil
        var wildcardSubscriptionAvailable: Bool? = nil
        var subscriptionIdentifierAvailable: Bool? = nil
        var sharedSubscriptionAvailable: Bool? = nil
        var subscriptionIdentifier: UInt32? = nil
        var userProperties: [UserProperty] = []

        init() {}

        func copy() -> Storage {
            let copy = Storage()
            copy.sessionExpiryInterval = sessionExpiryInterval
            copy.assignedClientIdentifier = assignedClientIdentifier
            copy.serverKeepAlive = serverKeepAlive
            copy.authenticationMethod = authenticationMethod
            copy.authenticationData = authenticationData
            copy.requestProblemInformation = requestProblemInformation
            copy.requestResponseInformation = requestResponseInformation
            copy.responseInformation = responseInformation
            copy.serverReference = serverReference
            copy.reasonString = reasonString
            copy.receiveMaximum = receiveMaximum
            copy.topicAliasMaximum = topicAliasMaximum
            copy.maximumQoS = maximumQoS
            copy.retainAvailable = retainAvailable
            copy.maximumPacketSize = maximumPacketSize
            copy.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable
            copy.subscriptionIdentifierAvailable = subscriptionIdentifierAvailable
            copy.sharedSubscriptionAvailable = sharedSubscriptionAvailable
            copy.subscriptionIdentifier = subscriptionIdentifier
            copy.userProperties = userProperties
            return copy
        }
    }

    private mutating func mutableStorage() -> Storage {
        if let storage {
            if !isKnownUniquelyReferenced(&self.storage) { self.storage = storage.copy() }
        } else {
            storage = Storage()
        }
        return storage!
    }

    public var sessionExpiryInterval: UInt32? {
        get { storage?.sessionExpiryInterval ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().sessionExpiryInterval = newValue
        }
    }
    public var assignedClientIdentifier: String? {
        get { storage?.assignedClientIdentifier ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().assignedClientIdentifier = newValue
        }
    }
    public var serverKeepAlive: UInt16? {
        get { storage?.serverKeepAlive ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().serverKeepAlive = newValue
        }
    }
    public var authenticationMethod: String? {
        get { storage?.authenticationMethod ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().authenticationMethod = newValue
        }
    }
    public var authenticationData: ByteBuffer? {
        get { storage?.authenticationData ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().authenticationData = newValue
        }
    }
    public var requestProblemInformation: Bool? {
        get { storage?.requestProblemInformation ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().requestProblemInformation = newValue
        }
    }
    public var requestResponseInformation: Bool? {
        get { storage?.requestResponseInformation ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().requestResponseInformation = newValue
        }
    }
    public var responseInformation: String? {
        get { storage?.responseInformation ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().responseInformation = newValue
        }
    }
    public var serverReference: String? {
        get { storage?.serverReference ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().serverReference = newValue
        }
    }
    public var reasonString: String? {
        get { storage?.reasonString ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().reasonString = newValue
        }
    }
    public var receiveMaximum: UInt16? {
        get { storage?.receiveMaximum ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().receiveMaximum = newValue
        }
    }
    public var topicAliasMaximum: UInt16? {
        get { storage?.topicAliasMaximum ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().topicAliasMaximum = newValue
        }
    }
    public var maximumQoS: QoS? {
        get { storage?.maximumQoS ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().maximumQoS = newValue
        }
    }
    public var retainAvailable: Bool? {
        get { storage?.retainAvailable ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().retainAvailable = newValue
        }
    }
    public var maximumPacketSize: UInt32? {
        get { storage?.maximumPacketSize ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().maximumPacketSize = newValue
        }
    }
    public var wildcardSubscriptionAvailable: Bool? {
        get { storage?.wildcardSubscriptionAvailable ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().wildcardSubscriptionAvailable = newValue
        }
    }
    public var subscriptionIdentifierAvailable: Bool? {
        get { storage?.subscriptionIdentifierAvailable ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().subscriptionIdentifierAvailable = newValue
        }
    }
    public var sharedSubscriptionAvailable: Bool? {
        get { storage?.sharedSubscriptionAvailable ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().sharedSubscriptionAvailable = newValue
        }
    }
    public var subscriptionIdentifier: UInt32? {
        get { storage?.subscriptionIdentifier ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().subscriptionIdentifier = newValue
        }
    }
    public var userProperties: [UserProperty] {
        get { storage?.userProperties ?? [] }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue.isEmpty { return }
            mutableStorage().userProperties = newValue
        }
    }

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
        if sessionExpiryInterval != nil { self.sessionExpiryInterval = sessionExpiryInterval }
        if assignedClientIdentifier != nil { self.assignedClientIdentifier = assignedClientIdentifier }
        if serverKeepAlive != nil { self.serverKeepAlive = serverKeepAlive }
        if authenticationMethod != nil { self.authenticationMethod = authenticationMethod }
        if authenticationData != nil { self.authenticationData = authenticationData }
        if requestProblemInformation != nil { self.requestProblemInformation = requestProblemInformation }
        if requestResponseInformation != nil { self.requestResponseInformation = requestResponseInformation }
        if responseInformation != nil { self.responseInformation = responseInformation }
        if serverReference != nil { self.serverReference = serverReference }
        if reasonString != nil { self.reasonString = reasonString }
        if receiveMaximum != nil { self.receiveMaximum = receiveMaximum }
        if topicAliasMaximum != nil { self.topicAliasMaximum = topicAliasMaximum }
        if maximumQoS != nil { self.maximumQoS = maximumQoS }
        if retainAvailable != nil { self.retainAvailable = retainAvailable }
        if maximumPacketSize != nil { self.maximumPacketSize = maximumPacketSize }
        if wildcardSubscriptionAvailable != nil { self.wildcardSubscriptionAvailable = wildcardSubscriptionAvailable }
        if subscriptionIdentifierAvailable != nil { self.subscriptionIdentifierAvailable = subscriptionIdentifierAvailable }
        if sharedSubscriptionAvailable != nil { self.sharedSubscriptionAvailable = sharedSubscriptionAvailable }
        if subscriptionIdentifier != nil { self.subscriptionIdentifier = subscriptionIdentifier }
        if !userProperties.isEmpty { self.userProperties = userProperties }
    }

    public static func == (lhs: MQTTProperties, rhs: MQTTProperties) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.sessionExpiryInterval == rhs.sessionExpiryInterval && lhs.assignedClientIdentifier == rhs.assignedClientIdentifier && lhs.serverKeepAlive == rhs.serverKeepAlive && lhs.authenticationMethod == rhs.authenticationMethod && lhs.authenticationData == rhs.authenticationData && lhs.requestProblemInformation == rhs.requestProblemInformation && lhs.requestResponseInformation == rhs.requestResponseInformation && lhs.responseInformation == rhs.responseInformation && lhs.serverReference == rhs.serverReference && lhs.reasonString == rhs.reasonString && lhs.receiveMaximum == rhs.receiveMaximum && lhs.topicAliasMaximum == rhs.topicAliasMaximum && lhs.maximumQoS == rhs.maximumQoS && lhs.retainAvailable == rhs.retainAvailable && lhs.maximumPacketSize == rhs.maximumPacketSize && lhs.wildcardSubscriptionAvailable == rhs.wildcardSubscriptionAvailable && lhs.subscriptionIdentifierAvailable == rhs.subscriptionIdentifierAvailable && lhs.sharedSubscriptionAvailable == rhs.sharedSubscriptionAvailable && lhs.subscriptionIdentifier == rhs.subscriptionIdentifier && lhs.userProperties == rhs.userProperties
    }

    public func hash(into hasher: inout Hasher) {
            hasher.combine(sessionExpiryInterval)
            hasher.combine(assignedClientIdentifier)
            hasher.combine(serverKeepAlive)
            hasher.combine(authenticationMethod)
            hasher.combine(authenticationData)
            hasher.combine(requestProblemInformation)
            hasher.combine(requestResponseInformation)
            hasher.combine(responseInformation)
            hasher.combine(serverReference)
            hasher.combine(reasonString)
            hasher.combine(receiveMaximum)
            hasher.combine(topicAliasMaximum)
            hasher.combine(maximumQoS)
            hasher.combine(retainAvailable)
            hasher.combine(maximumPacketSize)
            hasher.combine(wildcardSubscriptionAvailable)
            hasher.combine(subscriptionIdentifierAvailable)
            hasher.combine(sharedSubscriptionAvailable)
            hasher.combine(subscriptionIdentifier)
            hasher.combine(userProperties)
    }

    public static let none = MQTTProperties()
    public var isEmpty: Bool { storage == nil || self == .none }
}

/// Whether a payload is declared as bytes or UTF-8 text (MQTT 5 Payload Format Indicator).
public enum PayloadFormat: UInt8, Sendable, Hashable {
    case unspecifiedBytes = 0
    case utf8 = 1
}

/// The properties a PUBLISH (or a Will, which becomes one) carries.
public struct PublishProperties: Sendable, Hashable {
    /// Shared, copy-on-write storage; nil while every field is absent (the common case), so a packet
    /// without properties carries one word and copying it costs nothing.
    private var storage: Storage?

    private final class Storage: @unchecked Sendable {
        var payloadFormat: PayloadFormat? = nil
        var messageExpiryInterval: UInt32? = nil
        var topicAlias: UInt16? = nil
        var responseTopic: String? = nil
        var correlationData: ByteBuffer? = nil
        var userProperties: [UserProperty] = []
        var subscriptionIdentifiers: [UInt32] = []
        var contentType: String? = nil

        init() {}

        func copy() -> Storage {
            let copy = Storage()
            copy.payloadFormat = payloadFormat
            copy.messageExpiryInterval = messageExpiryInterval
            copy.topicAlias = topicAlias
            copy.responseTopic = responseTopic
            copy.correlationData = correlationData
            copy.userProperties = userProperties
            copy.subscriptionIdentifiers = subscriptionIdentifiers
            copy.contentType = contentType
            return copy
        }
    }

    private mutating func mutableStorage() -> Storage {
        if let storage {
            if !isKnownUniquelyReferenced(&self.storage) { self.storage = storage.copy() }
        } else {
            storage = Storage()
        }
        return storage!
    }

    public var payloadFormat: PayloadFormat? {
        get { storage?.payloadFormat ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().payloadFormat = newValue
        }
    }
    public var messageExpiryInterval: UInt32? {
        get { storage?.messageExpiryInterval ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().messageExpiryInterval = newValue
        }
    }
    public var topicAlias: UInt16? {
        get { storage?.topicAlias ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().topicAlias = newValue
        }
    }
    public var responseTopic: String? {
        get { storage?.responseTopic ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().responseTopic = newValue
        }
    }
    public var correlationData: ByteBuffer? {
        get { storage?.correlationData ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().correlationData = newValue
        }
    }
    public var userProperties: [UserProperty] {
        get { storage?.userProperties ?? [] }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue.isEmpty { return }
            mutableStorage().userProperties = newValue
        }
    }
    public var subscriptionIdentifiers: [UInt32] {
        get { storage?.subscriptionIdentifiers ?? [] }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue.isEmpty { return }
            mutableStorage().subscriptionIdentifiers = newValue
        }
    }
    public var contentType: String? {
        get { storage?.contentType ?? nil }
        set {
            // Setting an absent field on empty properties allocates nothing.
            if storage == nil && newValue == nil { return }
            mutableStorage().contentType = newValue
        }
    }

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
        if payloadFormat != nil { self.payloadFormat = payloadFormat }
        if messageExpiryInterval != nil { self.messageExpiryInterval = messageExpiryInterval }
        if topicAlias != nil { self.topicAlias = topicAlias }
        if responseTopic != nil { self.responseTopic = responseTopic }
        if correlationData != nil { self.correlationData = correlationData }
        if !userProperties.isEmpty { self.userProperties = userProperties }
        if !subscriptionIdentifiers.isEmpty { self.subscriptionIdentifiers = subscriptionIdentifiers }
        if contentType != nil { self.contentType = contentType }
    }

    public static func == (lhs: PublishProperties, rhs: PublishProperties) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.payloadFormat == rhs.payloadFormat && lhs.messageExpiryInterval == rhs.messageExpiryInterval && lhs.topicAlias == rhs.topicAlias && lhs.responseTopic == rhs.responseTopic && lhs.correlationData == rhs.correlationData && lhs.userProperties == rhs.userProperties && lhs.subscriptionIdentifiers == rhs.subscriptionIdentifiers && lhs.contentType == rhs.contentType
    }

    public func hash(into hasher: inout Hasher) {
            hasher.combine(payloadFormat)
            hasher.combine(messageExpiryInterval)
            hasher.combine(topicAlias)
            hasher.combine(responseTopic)
            hasher.combine(correlationData)
            hasher.combine(userProperties)
            hasher.combine(subscriptionIdentifiers)
            hasher.combine(contentType)
    }

    public static let none = PublishProperties()
    public var isEmpty: Bool {
        storage == nil || (payloadFormat == nil && messageExpiryInterval == nil && topicAlias == nil && responseTopic == nil
            && correlationData == nil && userProperties.isEmpty && subscriptionIdentifiers.isEmpty
            && contentType == nil)
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
