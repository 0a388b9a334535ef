import MQTTCore

/// The broker's view of one network connection.
final class Connection {
    enum State { case awaitingConnect, connected, closed }

    let info: ConnectionInfo
    let acceptedAt: BrokerInstant
    var state: State = .awaitingConnect
    var version: ProtocolVersion = .v3_1_1
    var clientID = ""
    var session: Session?
    /// Effective keep alive in seconds after AWS's clamping; 0 only before CONNECT.
    var keepAlive: UInt16 = 0
    var lastActivity: BrokerInstant
    /// When CONNECT was accepted.
    var connectedAt: BrokerInstant?
    var will: Will?
    /// Inbound topic aliases (MQTT 5).
    var topicAliases: [UInt16: String] = [:]
    var requestProblemInformation = true
    /// Session expiry requested in CONNECT, for the DISCONNECT rule (0 may not become non-zero).
    var connectSessionExpiry: UInt32 = 0
    var lifecycleVersion = 0
    /// End of the current rate-limit pause, if one is running (one log line per pause, not per packet).
    var pausedUntil: BrokerInstant?
    /// Since when a subscriber's back pressure has held this connection without a break.
    var heldSince: BrokerInstant?
    /// What this client may do (nil without an authorizer), and what it was made from.
    var authorization: (any ConnectionAuthorization)?
    var authorizationRequest: ConnectAuthorizationRequest?
    /// Direct messages (SendDirectMessage with confirmation) awaiting their PUBACK: packet id -> token.
    /// Not session state: never queued, never redelivered.
    var directAcks: [UInt16: UInt64] = [:]
    var publishBucket: TokenBucket
    var byteBucket: TokenBucket

    init(info: ConnectionInfo, at now: BrokerInstant, limits: BrokerLimits) {
        self.info = info
        self.acceptedAt = now
        self.lastActivity = now
        self.publishBucket = TokenBucket(rate: limits.publishesPerSecond)
        self.byteBucket = TokenBucket(rate: limits.bytesPerSecond)
    }

    var isV5: Bool { version == .v5 }
}
