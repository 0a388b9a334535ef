import NIOCore
import MQTTCore

/// Identifies one network connection for its whole life. Never reused within a process.
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "conn-\(rawValue)" }
}

/// What the transport knows about a connection before its first packet: who it is (the certificate id
/// proven in the TLS handshake) and where it comes from.
public struct ConnectionInfo: Sendable, Hashable {
    public var id: ConnectionID
    /// The principal: for mutual TLS, the certificate id (lowercase hex SHA-256 of the DER).
    public var principalID: String
    public var sourceIP: String
    public var sourcePort: Int
    /// A unique id for lifecycle events' `sessionIdentifier`.
    public var sessionIdentifier: String
    /// The server name the client asked for in the TLS handshake (SNI), if any: `iot:DomainName`.
    public var serverName: String?

    public init(id: ConnectionID, principalID: String, sourceIP: String, sourcePort: Int, sessionIdentifier: String,
                serverName: String? = nil) {
        self.id = id
        self.principalID = principalID
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
        self.sessionIdentifier = sessionIdentifier
        self.serverName = serverName
    }
}

/// What the broker asks the transport to do. The broker never touches a socket; the channel handler
/// carries these out in order.
public enum BrokerAction: Sendable, Hashable {
    /// Write (and flush) a packet to a connection. Silently dropped if the connection is gone.
    case send(ConnectionID, MQTTPacket)
    /// Close a connection after the packets already sent to it are flushed.
    case close(ConnectionID)
    /// Stop reading from a connection until the given time (rate limits: excess is delayed, not lost;
    /// back pressure from a subscriber that cannot keep up).
    case pauseReading(ConnectionID, until: BrokerInstant)
    /// End a pause early (the subscriber that caused back pressure caught up).
    case resumeReading(ConnectionID)
    /// Write an entry to the IoT event log.
    case log(IoTLogEvent)
    /// A client acknowledged (PUBACK) the direct message the API sent with this token (SendDirectMessage
    /// with confirmation).
    case directMessageAcknowledged(token: UInt64)
    /// A device published to a service's request topic (`isServiceRequest`: the device shadow's
    /// get/update/delete): authorized and acknowledged like any PUBLISH, for the service to answer.
    case serviceRequest(ServiceRequest)
    /// A client id connected or disconnected (only while `Broker.reportsPresence`; what fleet indexing's
    /// connectivity of a thing reads changed).
    case presenceChanged(clientID: String)
    /// A message the rules engine takes: its topic matched `Broker.rulesWant`, or it was published to
    /// Basic Ingest (`$aws/rules/<rule>/...`), after authorization. Boxed, so the action every delivery
    /// makes stays as small as before.
    indirect case ruleMessage(RuleMessage)
}

/// A message for the rules engine, with what its SQL functions read (client id, principal, source IP,
/// the MQTT 5 properties in the PUBLISH).
public struct RuleMessage: Sendable, Hashable {
    public var publish: PublishPacket
    /// Empty for a message that came over HTTPS.
    public var clientID: String
    public var principalID: String
    public var sourceIP: String?
    public var epochMilliseconds: Int64
    /// How many rule republishes led to it (0 for a device's or an API caller's message).
    public var depth: Int

    public init(publish: PublishPacket, clientID: String, principalID: String, sourceIP: String?, epochMilliseconds: Int64, depth: Int) {
        self.publish = publish
        self.clientID = clientID
        self.principalID = principalID
        self.sourceIP = sourceIP
        self.epochMilliseconds = epochMilliseconds
        self.depth = depth
    }
}

/// A PUBLISH to a service request topic, as the broker accepted it.
public struct ServiceRequest: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var clientID: String
    public var principalID: String
    /// How many rule republishes led here (0: a client's request): the service's answers go to rules at
    /// this depth, so a loop through a service (a rule updating a shadow on its own answers) is bounded too.
    public var ruleDepth: Int

    public init(topic: String, payload: ByteBuffer, clientID: String, principalID: String, ruleDepth: Int = 0) {
        self.topic = topic
        self.payload = payload
        self.clientID = clientID
        self.principalID = principalID
        self.ruleDepth = ruleDepth
    }
}

/// Why a connection ended, in AWS's lifecycle-event vocabulary (botocore `DisconnectReasonValue`).
public enum DisconnectReason: String, Sendable, Hashable {
    case authError = "AUTH_ERROR"
    case clientInitiatedDisconnect = "CLIENT_INITIATED_DISCONNECT"
    case clientError = "CLIENT_ERROR"
    case connectionLost = "CONNECTION_LOST"
    case duplicateClientID = "DUPLICATE_CLIENTID"
    case forbiddenAccess = "FORBIDDEN_ACCESS"
    case keepAliveTimeout = "MQTT_KEEP_ALIVE_TIMEOUT"
    case serverError = "SERVER_ERROR"
    case serverInitiatedDisconnect = "SERVER_INITIATED_DISCONNECT"
    case apiInitiatedDisconnect = "API_INITIATED_DISCONNECT"
    case throttled = "THROTTLED"
    case webSocketTTLExpiration = "WEBSOCKET_TTL_EXPIRATION"
    case unknown = "UNKNOWN"
}
