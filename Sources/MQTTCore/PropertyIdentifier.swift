/// MQTT 5 property identifiers (spec 2.2.2.2), with their data type and the packets that may carry them.
public enum PropertyIdentifier: UInt8, Sendable, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    public enum DataType: Sendable {
        case byte, twoByteInteger, fourByteInteger, variableByteInteger, utf8String, binaryData, utf8StringPair
    }

    public var dataType: DataType {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
             .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
             .sharedSubscriptionAvailable:
            .byte
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            .twoByteInteger
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            .fourByteInteger
        case .subscriptionIdentifier:
            .variableByteInteger
        case .contentType, .responseTopic, .assignedClientIdentifier, .authenticationMethod,
             .responseInformation, .serverReference, .reasonString:
            .utf8String
        case .correlationData, .authenticationData:
            .binaryData
        case .userProperty:
            .utf8StringPair
        }
    }

    /// Where the property may appear (spec table 2-4). Anything else is a Malformed Packet.
    public func isAllowed(in context: PropertyContext) -> Bool {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            return context == .publish || context == .will
        case .subscriptionIdentifier:
            return context == .publish || context == .subscribe
        case .sessionExpiryInterval:
            return context == .connect || context == .connack || context == .disconnect
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
             .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            return context == .connack
        case .authenticationMethod, .authenticationData:
            return context == .connect || context == .connack || context == .auth
        case .requestProblemInformation, .requestResponseInformation:
            return context == .connect
        case .willDelayInterval:
            return context == .will
        case .serverReference:
            return context == .connack || context == .disconnect
        case .reasonString:
            switch context {
            case .connack, .puback, .subscribeAck, .unsubscribeAck, .disconnect, .auth: return true
            default: return false
            }
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize:
            return context == .connect || context == .connack
        case .topicAlias:
            return context == .publish
        case .userProperty:
            return true
        }
    }
}

/// The packet (or CONNECT's will section) a property set belongs to.
public enum PropertyContext: Sendable, Hashable {
    case connect, will, connack, publish
    /// PUBACK, PUBREC, PUBREL and PUBCOMP share one property set.
    case puback
    case subscribe, subscribeAck, unsubscribe, unsubscribeAck, disconnect, auth
}
