import MQTTCore
import NIOCore

/// The broker core: sessions, the subscription index, QoS 1 flows, retained messages, wills, quotas
/// and lifecycle events. It never touches a socket or a clock: every input is an event with the time
/// passed in, every output a `BrokerAction` for the transport to carry out.
///
/// Not thread-safe by design: the gateway owns one instance behind one lock, so the routing state has
/// a single owner and tests drive it deterministically.
public final class Broker {
    public let limits: BrokerLimits
    /// Decides every Connect, Publish, RetainPublish, Subscribe and Receive; nil allows everything (tests
    /// of the broker alone).
    let authorizer: (any BrokerAuthorizer)?
    /// IoT log entries below this level are not even created.
    public var logLevel: IoTLogLevel

    var connections: [ConnectionID: Connection] = [:]
    var sessions: [SessionKey: Session] = [:]
    var sessionsByClientID: [String: SessionKey] = [:]
    /// Sessions without a connection, checked for expiry and delayed wills on each tick.
    var offlineSessions = Set<SessionKey>()
    let index = SubscriptionIndex()
    let retained: RetainedStore
    var nextSessionKey: SessionKey = 1
    var nextAssignedID: UInt64 = 1
    let assignedClientIDPrefix: String
    /// Reserved `$` topics devices may publish to, because a service answers them (the shadow's
    /// request topics); every other `$` topic is refused.
    let isServiceRequest: @Sendable (String) -> Bool
    /// Lifecycle `versionNumber` per client id, with the time and reason of its last disconnect (reset
    /// an hour after it); also what fleet indexing's connectivity reads.
    var lifecycleVersions: [String: (version: Int, lastDisconnect: BrokerInstant?, reason: DisconnectReason?)] = [:]
    var lastHousekeeping: BrokerInstant?
    /// Whether connects and disconnects are reported as `presenceChanged` actions.
    public var reportsPresence = false
    /// Which topics the rules engine takes (nil while the namespace has no enabled rule: no cost per
    /// message). Basic Ingest topics always go to it.
    public var rulesWant: (@Sendable (String) -> Bool)?
    /// Republishes by rules that lead to further rules stop at this depth (AWS documents no limit and
    /// warns of endless loops).
    public static let maximumRuleDepth = 8
    static let basicIngestPrefix = "$aws/rules/"

    /// Actions collected during the current call.
    var actions: [BrokerAction] = []
    /// Scratch for `route`, kept to reuse its storage.
    var matchedNodes: [SubscriptionIndex.Node] = []

    /// - Parameter assignedClientIDPrefix: prefix of client ids the broker assigns to MQTT 5 clients that
    ///   send none; make it unique per process so ids are not reused across restarts.
    public init(limits: BrokerLimits = BrokerLimits(), logLevel: IoTLogLevel = .info, assignedClientIDPrefix: String = "portcullis-",
                authorizer: (any BrokerAuthorizer)? = nil, isServiceRequest: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.isServiceRequest = isServiceRequest
        self.limits = limits
        self.authorizer = authorizer
        self.logLevel = logLevel
        self.assignedClientIDPrefix = assignedClientIDPrefix
        self.retained = RetainedStore(maximumCount: limits.maximumRetainedMessages, maximumBytes: limits.maximumRetainedBytes)
    }

    // MARK: introspection

    public var connectionCount: Int { connections.values.filter { $0.state == .connected }.count }
    public var sessionCount: Int { sessions.count }
    public var retainedMessageCount: Int { retained.count }
    public var subscriptionCount: Int { index.count }

    /// What is known of a client's session, for tests and the connection APIs.
    public struct SessionSnapshot: Sendable, Hashable {
        public var clientID: String
        public var connected: Bool
        public var expiryInterval: UInt32
        public var subscriptions: [String: QoS]
        public var inflightCount: Int
        public var queuedCount: Int
        public var hasPendingWill: Bool
    }

    public func session(clientID: String) -> SessionSnapshot? {
        guard let key = sessionsByClientID[clientID], let session = sessions[key] else { return nil }
        var subscriptions: [String: QoS] = [:]
        for (key, sub) in session.subscriptions { subscriptions[key.topic] = sub.entry.options.qos }
        return SessionSnapshot(
            clientID: clientID, connected: session.connection != nil, expiryInterval: session.expiryInterval,
            subscriptions: subscriptions, inflightCount: session.inflight.count, queuedCount: session.pending.count,
            hasPendingWill: session.pendingWill != nil
        )
    }

    public func retainedMessage(topic: String) -> PublishPacket? {
        guard let message = retained.message(topic: topic) else { return nil }
        return PublishPacket(topic: message.topic, payload: message.payload, qos: message.qos, retain: true, properties: message.properties)
    }

    // MARK: events

    /// A transport connection was established (the TLS handshake proved `info.principalID`).
    public func accept(_ info: ConnectionInfo, at now: BrokerInstant) -> [BrokerAction] {
        connections[info.id] = Connection(info: info, at: now, limits: limits)
        return []
    }

    /// A packet arrived on a connection.
    /// - Parameter preauthorized: for a CONNECT, an authorization made outside the lock (ignored unless it
    ///   matches the request the broker derives and the authorizer says it is current).
    public func receive(_ packet: MQTTPacket, from id: ConnectionID, at now: BrokerInstant,
                        preauthorized: Preauthorization? = nil) -> [BrokerAction] {
        guard let connection = connections[id], connection.state != .closed else { return [] }
        connection.lastActivity = max(connection.lastActivity, now)
        if connection.state == .awaitingConnect {
            guard case .connect(let connect) = packet else {
                // The decoder already refuses this; the broker does too, so the core stands on its own.
                actions.append(.close(id))
                connections[id] = nil
                return takeActions()
            }
            handleConnect(connect, on: connection, at: now, preauthorized: preauthorized)
            return takeActions()
        }
        switch packet {
        case .publish(let publish): handlePublish(publish, on: connection, at: now)
        case .puback(let ack): handlePubAck(ack, on: connection, at: now)
        case .subscribe(let subscribe): handleSubscribe(subscribe, on: connection, at: now)
        case .unsubscribe(let unsubscribe): handleUnsubscribe(unsubscribe, on: connection, at: now)
        case .pingreq: actions.append(.send(id, .pingresp))
        case .disconnect(let disconnect): handleDisconnect(disconnect, on: connection, at: now)
        case .connect:
            protocolViolation(on: connection, reason: .protocolError, "second CONNECT on a connection", at: now)
        case .pubrec, .pubrel, .pubcomp:
            protocolViolation(on: connection, reason: .protocolError, "QoS 2 is not supported", at: now)
        case .auth:
            protocolViolation(on: connection, reason: .protocolError, "AUTH without an authentication method", at: now)
        case .connack, .suback, .unsuback, .pingresp:
            protocolViolation(on: connection, reason: .protocolError, "\(packet.type) may only be sent by a server", at: now)
        }
        return takeActions()
    }

    /// The bytes on a connection could not be decoded. Answers as the spec asks and closes it.
    public func decodeFailed(_ error: MQTTCodecError, on id: ConnectionID, at now: BrokerInstant) -> [BrokerAction] {
        guard let connection = connections[id], connection.state != .closed else { return [] }
        if connection.state == .awaitingConnect {
            if error.kind == .unsupportedProtocolVersion {
                actions.append(.send(id, .connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion))))
            }
            log(.connect, .failure, connection, at: now, reason: Self.logReason(error.reasonCode), details: error.message, level: .error)
            actions.append(.close(id))
            connection.state = .closed
            connections[id] = nil
            return takeActions()
        }
        protocolViolation(on: connection, reason: error.reasonCode, error.message, at: now)
        return takeActions()
    }

    /// A client sent more unacknowledged QoS 1 PUBLISH packets than the Receive Maximum the server
    /// announced (the transport counts what it holds back while reading is paused).
    public func receiveMaximumExceeded(on id: ConnectionID, at now: BrokerInstant) -> [BrokerAction] {
        guard let connection = connections[id], connection.state == .connected else { return [] }
        protocolViolation(on: connection, reason: .receiveMaximumExceeded,
                          "more than \(limits.receiveMaximum) unacknowledged QoS 1 publishes", at: now)
        return takeActions()
    }

    /// The transport saw the connection close (peer closed, network error, or after a `.close`).
    public func connectionClosed(_ id: ConnectionID, at now: BrokerInstant) -> [BrokerAction] {
        guard let connection = connections[id] else { return [] }
        if connection.state == .connected {
            endConnection(connection, reason: .connectionLost, clientInitiated: false, publishWill: true, at: now)
        }
        connections[id] = nil
        return takeActions()
    }

    /// Timers: keep alive, CONNECT timeout, will delays, session expiry, retained expiry.
    /// Call about once a second.
    public func tick(at now: BrokerInstant) -> [BrokerAction] {
        for connection in connections.values {
            switch connection.state {
            case .awaitingConnect:
                if now.nanoseconds(since: connection.acceptedAt) > .seconds(limits.connectTimeout) {
                    log(.connect, .failure, connection, at: now, reason: "CONNECT_TIMEOUT",
                        details: "no CONNECT within \(limits.connectTimeout) s of the TLS handshake", level: .error)
                    actions.append(.close(connection.info.id))
                    connection.state = .closed
                    connections[connection.info.id] = nil
                }
            case .connected:
                // AWS and the spec: 1.5 times the keep alive without any packet from the client.
                let allowed = UInt64(connection.keepAlive) * 1_500_000_000
                if connection.keepAlive > 0 && now.nanoseconds(since: connection.lastActivity) > allowed {
                    serverDisconnect(connection, reason: .keepAliveTimeout, reasonString: "keep alive timeout",
                                     lifecycle: .keepAliveTimeout, at: now)
                }
            case .closed:
                break
            }
        }
        for key in offlineSessions {
            guard let session = sessions[key] else { continue }
            if let will = session.pendingWill, now >= will.due {
                session.pendingWill = nil
                publishDelayedWill(will.message, from: session, request: will.request, at: now)
            }
            if let since = session.disconnectedAt,
               now.nanoseconds(since: since) >= .seconds(session.expiryInterval) {
                removeSession(session, at: now)
            }
        }
        if lastHousekeeping.map({ now.nanoseconds(since: $0) >= .seconds(60) }) ?? true {
            lastHousekeeping = now
            retained.purgeExpired(at: now)
            for (clientID, entry) in lifecycleVersions {
                if let last = entry.lastDisconnect, now.nanoseconds(since: last) >= .seconds(3600) {
                    lifecycleVersions[clientID] = nil
                }
            }
        }
        return takeActions()
    }

    /// The server is stopping: every connected client gets DISCONNECT 0x8B (v5) and is closed. Wills
    /// are published, as for any close the client did not ask for.
    public func shutdown(at now: BrokerInstant) -> [BrokerAction] {
        for connection in connections.values.sorted(by: { $0.info.id < $1.info.id }) {
            if connection.state == .connected {
                serverDisconnect(connection, reason: .serverShuttingDown, reasonString: "server shutting down",
                                 lifecycle: .serverInitiatedDisconnect, at: now)
            } else if connection.state == .awaitingConnect {
                actions.append(.close(connection.info.id))
                connection.state = .closed
            }
        }
        return takeActions()
    }

    /// The registry no longer lets these connections' principals connect (a certificate revoked or
    /// deactivated, its CA deactivated, the certificate deleted): each is closed, MQTT 5 clients hear
    /// 0x87 Not authorized first, and wills are published as for any close the client did not ask for.
    public func closeConnections(where shouldClose: (ConnectionInfo) -> Bool, reason: String, at now: BrokerInstant) -> [BrokerAction] {
        for connection in connections.values.sorted(by: { $0.info.id < $1.info.id }) where shouldClose(connection.info) {
            if connection.state == .connected {
                serverDisconnect(connection, reason: .notAuthorized, reasonString: reason, lifecycle: .authError,
                                 logReason: "AUTHENTICATION_FAILURE", at: now)
            } else if connection.state == .awaitingConnect {
                actions.append(.close(connection.info.id))
                connection.state = .closed
            }
        }
        return takeActions()
    }

    /// A connection's permitted lifetime ended (MQTT over WebSocket signed with SigV4, reference 1.3):
    /// MQTT 5 gets DISCONNECT 0xA0 (Maximum connect time) with `reasonString`, then the socket closes,
    /// the will is published and the lifecycle reason is WEBSOCKET_TTL_EXPIRATION.
    public func expireConnection(_ id: ConnectionID, reasonString: String, at now: BrokerInstant) -> [BrokerAction] {
        guard let connection = connections[id] else { return [] }
        if connection.state == .connected {
            serverDisconnect(connection, reason: .maximumConnectTime, reasonString: reasonString, lifecycle: .webSocketTTLExpiration,
                             at: now)
        } else if connection.state == .awaitingConnect {
            actions.append(.close(id))
            connection.state = .closed
        }
        return takeActions()
    }

    func takeActions() -> [BrokerAction] {
        defer { actions = [] }
        return actions
    }
}
