/// An MQTT 5 reason code (spec 2.4). A struct rather than an enum, because peers may send codes this
/// version of the codec does not name, and acknowledgements must still carry them through.
public struct ReasonCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public var isFailure: Bool { rawValue >= 0x80 }

    public static let success = ReasonCode(0x00)  // also Normal disconnection, Granted QoS 0
    public static let normalDisconnection = ReasonCode(0x00)
    public static let grantedQoS0 = ReasonCode(0x00)
    public static let grantedQoS1 = ReasonCode(0x01)
    public static let grantedQoS2 = ReasonCode(0x02)
    public static let disconnectWithWillMessage = ReasonCode(0x04)
    public static let noMatchingSubscribers = ReasonCode(0x10)
    public static let noSubscriptionExisted = ReasonCode(0x11)
    public static let continueAuthentication = ReasonCode(0x18)
    public static let reAuthenticate = ReasonCode(0x19)
    public static let unspecifiedError = ReasonCode(0x80)
    public static let malformedPacket = ReasonCode(0x81)
    public static let protocolError = ReasonCode(0x82)
    public static let implementationSpecificError = ReasonCode(0x83)
    public static let unsupportedProtocolVersion = ReasonCode(0x84)
    public static let clientIdentifierNotValid = ReasonCode(0x85)
    public static let badUserNameOrPassword = ReasonCode(0x86)
    public static let notAuthorized = ReasonCode(0x87)
    public static let serverUnavailable = ReasonCode(0x88)
    public static let serverBusy = ReasonCode(0x89)
    public static let banned = ReasonCode(0x8A)
    public static let serverShuttingDown = ReasonCode(0x8B)
    public static let badAuthenticationMethod = ReasonCode(0x8C)
    public static let keepAliveTimeout = ReasonCode(0x8D)
    public static let sessionTakenOver = ReasonCode(0x8E)
    public static let topicFilterInvalid = ReasonCode(0x8F)
    public static let topicNameInvalid = ReasonCode(0x90)
    public static let packetIdentifierInUse = ReasonCode(0x91)
    public static let packetIdentifierNotFound = ReasonCode(0x92)
    public static let receiveMaximumExceeded = ReasonCode(0x93)
    public static let topicAliasInvalid = ReasonCode(0x94)
    public static let packetTooLarge = ReasonCode(0x95)
    public static let messageRateTooHigh = ReasonCode(0x96)
    public static let quotaExceeded = ReasonCode(0x97)
    public static let administrativeAction = ReasonCode(0x98)
    public static let payloadFormatInvalid = ReasonCode(0x99)
    public static let retainNotSupported = ReasonCode(0x9A)
    public static let qosNotSupported = ReasonCode(0x9B)
    public static let useAnotherServer = ReasonCode(0x9C)
    public static let serverMoved = ReasonCode(0x9D)
    public static let sharedSubscriptionsNotSupported = ReasonCode(0x9E)
    public static let connectionRateExceeded = ReasonCode(0x9F)
    public static let maximumConnectTime = ReasonCode(0xA0)
    public static let subscriptionIdentifiersNotSupported = ReasonCode(0xA1)
    public static let wildcardSubscriptionsNotSupported = ReasonCode(0xA2)

    public var description: String {
        let name: String = switch rawValue {
        case 0x00: "Success"
        case 0x01: "Granted QoS 1"
        case 0x02: "Granted QoS 2"
        case 0x04: "Disconnect with Will Message"
        case 0x10: "No matching subscribers"
        case 0x11: "No subscription existed"
        case 0x18: "Continue authentication"
        case 0x19: "Re-authenticate"
        case 0x80: "Unspecified error"
        case 0x81: "Malformed Packet"
        case 0x82: "Protocol Error"
        case 0x83: "Implementation specific error"
        case 0x84: "Unsupported Protocol Version"
        case 0x85: "Client Identifier not valid"
        case 0x86: "Bad User Name or Password"
        case 0x87: "Not authorized"
        case 0x88: "Server unavailable"
        case 0x89: "Server busy"
        case 0x8A: "Banned"
        case 0x8B: "Server shutting down"
        case 0x8C: "Bad authentication method"
        case 0x8D: "Keep Alive timeout"
        case 0x8E: "Session taken over"
        case 0x8F: "Topic Filter invalid"
        case 0x90: "Topic Name invalid"
        case 0x91: "Packet Identifier in use"
        case 0x92: "Packet Identifier not found"
        case 0x93: "Receive Maximum exceeded"
        case 0x94: "Topic Alias invalid"
        case 0x95: "Packet too large"
        case 0x96: "Message rate too high"
        case 0x97: "Quota exceeded"
        case 0x98: "Administrative action"
        case 0x99: "Payload format invalid"
        case 0x9A: "Retain not supported"
        case 0x9B: "QoS not supported"
        case 0x9C: "Use another server"
        case 0x9D: "Server moved"
        case 0x9E: "Shared Subscriptions not supported"
        case 0x9F: "Connection rate exceeded"
        case 0xA0: "Maximum connect time"
        case 0xA1: "Subscription Identifiers not supported"
        case 0xA2: "Wildcard Subscriptions not supported"
        default: "Reason code"
        }
        return "\(name) (0x\(String(rawValue, radix: 16, uppercase: true)))"
    }
}

/// The MQTT 3.1.1 CONNACK return codes (spec 3.2.2.3).
public enum ConnectReturnCode: UInt8, Sendable, Hashable {
    case accepted = 0
    case unacceptableProtocolVersion = 1
    case identifierRejected = 2
    case serverUnavailable = 3
    case badUserNameOrPassword = 4
    case notAuthorized = 5

    /// The 3.1.1 return code closest to an MQTT 5 CONNACK reason code, for answering a 3.1.1 client
    /// with the same decision the broker makes for a v5 one.
    public init(_ reason: ReasonCode) {
        switch reason.rawValue {
        case 0x00: self = .accepted
        case 0x84: self = .unacceptableProtocolVersion
        case 0x85: self = .identifierRejected
        case 0x86, 0x8C: self = .badUserNameOrPassword
        case 0x87, 0x8A: self = .notAuthorized
        default: self = .serverUnavailable
        }
    }
}
