import MQTTCore
import NIOCore

extension Broker {
    /// The authorization request a CONNECT makes (nil when the broker assigns the client id, which only
    /// it can do). The transport uses it to authorize before taking the broker's lock.
    public static func authorizationRequest(for connect: ConnectPacket, on info: ConnectionInfo) -> ConnectAuthorizationRequest? {
        guard !connect.clientID.isEmpty else { return nil }
        let persistent = connect.protocolVersion == .v5 ? (connect.properties.sessionExpiryInterval ?? 0) > 0 : !connect.cleanStart
        return ConnectAuthorizationRequest(connection: info, clientID: connect.clientID, persistentSession: persistent,
                                           willTopic: connect.will?.topic)
    }

    func handleConnect(_ connect: ConnectPacket, on connection: Connection, at now: BrokerInstant, preauthorized: Preauthorization? = nil) {
        let id = connection.info.id
        connection.version = connect.protocolVersion == .v5 ? .v5 : .v3_1_1
        connection.clientID = connect.clientID

        func refuse(_ reason: ReasonCode, _ logReason: String, _ details: String) {
            // 3.1.1 has no return code for a bad will; the spec and AWS close the connection instead.
            let v3HasCode = [.unsupportedProtocolVersion, .clientIdentifierNotValid, .badUserNameOrPassword,
                             .notAuthorized, .serverUnavailable].contains(reason)
            if connection.isV5 || v3HasCode {
                var properties = MQTTProperties()
                if connection.isV5 && connect.properties.requestProblemInformation != false {
                    properties.reasonString = details
                }
                actions.append(.send(id, .connack(ConnAckPacket(reasonCode: reason, properties: properties))))
            }
            actions.append(.close(id))
            log(.connect, .failure, connection, at: now, reason: logReason, details: details, level: .error)
            connection.state = .closed
            connections[id] = nil
        }

        if connect.protocolVersion == .v3_1 {
            return refuse(.unsupportedProtocolVersion, "UNSUPPORTED_PROTOCOL_VERSION", "MQTT 3.1 is not supported; use 3.1.1 or 5")
        }
        if connect.properties.authenticationMethod != nil {
            return refuse(.badAuthenticationMethod, "BAD_AUTHENTICATION_METHOD", "enhanced authentication (AUTH) is not supported")
        }

        // Client identifier: AWS allows up to 128 bytes and reserves a leading '$'.
        var clientID = connect.clientID
        var assigned = false
        if clientID.isEmpty {
            if connection.isV5 || connect.cleanStart {
                // Unique among every session the broker holds (a client may have chosen such an id).
                repeat {
                    clientID = assignedClientIDPrefix + String(nextAssignedID)
                    nextAssignedID += 1
                } while sessionsByClientID[clientID] != nil
                assigned = true
            } else {
                return refuse(.clientIdentifierNotValid, "CLIENT_ID_INVALID", "an empty client id requires a clean session")
            }
        }
        if clientID.utf8.count > limits.maximumClientIDLength {
            return refuse(.clientIdentifierNotValid, "CLIENT_ID_INVALID", "client id longer than \(limits.maximumClientIDLength) bytes")
        }
        if !assigned && clientID.hasPrefix("$") {
            return refuse(.clientIdentifierNotValid, "CLIENT_ID_INVALID", "client ids starting with '$' are reserved")
        }
        // The spec lets a receiver refuse control characters (3.1.1 1.5.3, 5 1.5.4); they would end up in
        // ARNs, topics and log lines.
        if Topic.containsControlCharacter(clientID) {
            return refuse(.clientIdentifierNotValid, "CLIENT_ID_INVALID", "client id: \(TopicError.controlCharacter)")
        }
        if let username = connect.username, Topic.containsControlCharacter(username) {
            return refuse(.badUserNameOrPassword, "BAD_USERNAME_OR_PASSWORD", "user name: \(TopicError.controlCharacter)")
        }
        connection.clientID = clientID

        if let will = connect.will {
            if will.qos == .exactlyOnce {
                return refuse(.qosNotSupported, "QOS_NOT_SUPPORTED", "QoS 2 is not supported (maximum QoS is 1)")
            }
            if let problem = topicNameProblem(will.topic) {
                return refuse(.topicNameInvalid, "TOPIC_NAME_INVALID", "will topic: \(problem)")
            }
            if will.topic.hasPrefix("$") {
                return refuse(.notAuthorized, "AUTHORIZATION_FAILURE", "will topic: devices may not publish to reserved '$' topics")
            }
            if will.payload.readableBytes > limits.maximumPayloadSize {
                return refuse(.packetTooLarge, "PAYLOAD_TOO_LARGE", "will payload larger than \(limits.maximumPayloadSize) bytes")
            }
            if let responseTopic = will.properties.responseTopic, Topic.validateName(responseTopic) != nil {
                return refuse(.protocolError, "PROTOCOL_ERROR", "will Response Topic must be a valid topic name without wildcards")
            }
            if will.properties.payloadFormat == .utf8 && String(validating: will.payload.readableBytesView, as: UTF8.self) == nil {
                return refuse(.payloadFormatInvalid, "PAYLOAD_FORMAT_INVALID", "will payload is not UTF-8")
            }
        }

        // Keep alive (AWS: 30 to 1200 seconds; 0 or more than the maximum becomes the maximum).
        let requested = connect.keepAlive
        let keepAlive: UInt16 = requested == 0 || requested > limits.maximumKeepAlive
            ? limits.maximumKeepAlive : max(requested, limits.minimumKeepAlive)
        connection.keepAlive = keepAlive

        // Session expiry.
        let requestedExpiry: UInt32
        if connection.isV5 {
            requestedExpiry = connect.properties.sessionExpiryInterval ?? 0
        } else {
            requestedExpiry = connect.cleanStart ? 0 : limits.persistentSessionExpiry
        }
        let expiry = min(requestedExpiry, limits.maximumSessionExpiry)
        connection.connectSessionExpiry = expiry
        // Copied so the will does not pin the CONNECT's network read buffer for the connection's life.
        connection.will = connect.will.map { will in
            var copy = will
            copy.payload = ByteBuffer(bytes: will.payload.readableBytesView)
            if let data = will.properties.correlationData {
                copy.properties.correlationData = ByteBuffer(bytes: data.readableBytesView)
            }
            return copy
        }
        connection.requestProblemInformation = connect.properties.requestProblemInformation ?? true

        // Policies: Connect on the client id, and for a will Publish (and RetainPublish) on its topic.
        if let authorizer {
            let request = ConnectAuthorizationRequest(
                connection: connection.info, clientID: clientID,
                persistentSession: connection.isV5 ? requestedExpiry > 0 : !connect.cleanStart, willTopic: connect.will?.topic)
            let authorization: any ConnectionAuthorization
            if let preauthorized, preauthorized.request == request, authorizer.isCurrent(preauthorized.authorization) {
                authorization = preauthorized.authorization
            } else {
                authorization = authorizer.authorization(for: request)
            }
            var checks: [(DeviceAction, String)] = [(.connect, clientID)]
            if let will = connect.will {
                checks.append((.publish, will.topic))
                if will.retain { checks.append((.retainPublish, will.topic)) }
            }
            if let explanation = denial(authorization, checks, at: now) {
                return refuse(.notAuthorized, "AUTHORIZATION_FAILURE", explanation)
            }
            connection.authorization = authorization
            connection.authorizationRequest = request
        }

        var connackProperties = MQTTProperties()
        if connection.isV5 {
            connackProperties.maximumQoS = .atLeastOnce
            connackProperties.retainAvailable = true
            connackProperties.maximumPacketSize = UInt32(limits.maximumPacketSize)
            connackProperties.topicAliasMaximum = UInt16(clamping: limits.topicAliasMaximum)
            connackProperties.receiveMaximum = UInt16(clamping: limits.receiveMaximum)
            connackProperties.serverKeepAlive = keepAlive
            connackProperties.wildcardSubscriptionAvailable = true
            connackProperties.subscriptionIdentifierAvailable = true
            connackProperties.sharedSubscriptionAvailable = true
            if expiry != requestedExpiry { connackProperties.sessionExpiryInterval = expiry }
            if assigned { connackProperties.assignedClientIdentifier = clientID }
            // [MQTT-3.1.2-24]: a CONNACK the client cannot take is not sent; the connection ends here,
            // before it takes over a session or announces itself.
            if let maximum = connect.properties.maximumPacketSize,
               Self.encodedSize(.connack(ConnAckPacket(sessionPresent: true, properties: connackProperties))) > Int(maximum) {
                actions.append(.close(id))
                log(.connect, .failure, connection, at: now, reason: "PACKET_TOO_LARGE",
                    details: "the CONNACK does not fit the client's Maximum Packet Size of \(maximum) bytes", level: .error)
                connection.state = .closed
                connections[id] = nil
                return
            }
        }

        // Take over a live connection with the same client id.
        if let key = sessionsByClientID[clientID], let existing = sessions[key], let oldID = existing.connection,
           let old = connections[oldID] {
            serverDisconnect(old, reason: .sessionTakenOver, reasonString: "another connection used the same client id",
                             lifecycle: .duplicateClientID, logReason: "DUPLICATE_CLIENT_ID", at: now)
        }

        // Resume or start the session. Persistent sessions do not cross protocol versions (AWS).
        var session: Session
        var sessionPresent = false
        let window = min(Int(connect.properties.receiveMaximum ?? UInt16.max), limits.maximumInflightOutbound)
        if let key = sessionsByClientID[clientID], let existing = sessions[key] {
            if connect.cleanStart || assigned || existing.protocolVersion != connection.version {
                removeSession(existing, at: now)
                session = makeSession(clientID: clientID, version: connection.version, expiry: expiry, window: window)
            } else {
                session = existing
                sessionPresent = true
                session.expiryInterval = expiry
                session.sendWindow = window
                // The session resumed before the will delay ran out: the will is not sent (spec 3.1.3.2.2).
                session.pendingWill = nil
            }
        } else {
            session = makeSession(clientID: clientID, version: connection.version, expiry: expiry, window: window)
        }
        session.connection = id
        session.authorization = connection.authorization
        session.disconnectedAt = nil
        session.maximumPacketSize = connect.properties.maximumPacketSize.map { Int($0) } ?? .max
        offlineSessions.remove(session.key)
        connection.session = session
        connection.state = .connected
        connection.connectedAt = now

        actions.append(.send(id, .connack(ConnAckPacket(sessionPresent: sessionPresent, properties: connackProperties))))

        var version = lifecycleVersions[clientID]?.version ?? 0
        version += 1
        lifecycleVersions[clientID] = (version, nil, nil)
        connection.lifecycleVersion = version
        log(.connect, .success, connection, at: now)
        publishPresenceEvent(connected: true, connection, at: now)

        if sessionPresent {
            // Under the broker's lock nothing is routed between here and the CONNACK above.
            removeSubscriptionsNoLongerAllowed(on: connection, at: now)
            resumeDeliveries(session, at: now)
        }
    }

    /// Bytes a packet takes on the wire in MQTT 5 (for the rare packets that are checked before sending).
    static func encodedSize(_ packet: MQTTPacket) -> Int {
        var buffer = ByteBuffer()
        return (try? MQTTPacketEncoder.encode(packet, version: .v5, into: &buffer)).map { buffer.readableBytes } ?? .max
    }

    func makeSession(clientID: String, version: ProtocolVersion, expiry: UInt32, window: Int) -> Session {
        let key = nextSessionKey
        nextSessionKey += 1
        let session = Session(key: key, clientID: clientID, protocolVersion: version, expiryInterval: expiry, sendWindow: window)
        sessions[key] = session
        sessionsByClientID[clientID] = key
        return session
    }

    /// Ends a session: its subscriptions leave the index, its queues are dropped, and a will still
    /// waiting out its delay is published now (spec: the will is sent at the latest when the session ends).
    func removeSession(_ session: Session, at now: BrokerInstant) {
        if let will = session.pendingWill {
            session.pendingWill = nil
            publishDelayedWill(will.message, from: session, request: will.request, at: now)
        }
        for subscription in session.subscriptions.values {
            index.remove(filter: subscription.filter, shareName: subscription.shareName, session: session.key)
        }
        session.subscriptions.removeAll()
        session.clearInflight()
        session.pending.removeAll()
        sessions[session.key] = nil
        if sessionsByClientID[session.clientID] == session.key { sessionsByClientID[session.clientID] = nil }
        offlineSessions.remove(session.key)
    }

    func handleDisconnect(_ disconnect: DisconnectPacket, on connection: Connection, at now: BrokerInstant) {
        if let newExpiry = disconnect.properties.sessionExpiryInterval, let session = connection.session {
            if connection.connectSessionExpiry == 0 && newExpiry != 0 {
                return protocolViolation(on: connection, reason: .protocolError,
                                         "session expiry cannot be set on DISCONNECT when CONNECT set 0", at: now)
            }
            session.expiryInterval = min(newExpiry, limits.maximumSessionExpiry)
        }
        let withWill = disconnect.reasonCode == .disconnectWithWillMessage
        actions.append(.close(connection.info.id))
        endConnection(connection, reason: .clientInitiatedDisconnect, clientInitiated: true, publishWill: withWill, at: now)
    }

    /// The server closes a connection, telling an MQTT 5 client why.
    func serverDisconnect(
        _ connection: Connection, reason: ReasonCode, reasonString: String, lifecycle: DisconnectReason,
        logReason: String? = nil, at now: BrokerInstant
    ) {
        let id = connection.info.id
        if connection.isV5 {
            actions.append(.send(id, .disconnect(DisconnectPacket(reasonCode: reason, properties: MQTTProperties(reasonString: reasonString)))))
        }
        actions.append(.close(id))
        endConnection(connection, reason: lifecycle, clientInitiated: false, publishWill: true, at: now,
                      logReason: logReason ?? lifecycle.rawValue, details: reasonString)
    }

    /// A client broke the protocol: MQTT 5 gets DISCONNECT with the reason code, 3.1.1 a closed socket.
    func protocolViolation(on connection: Connection, reason: ReasonCode, _ details: String, at now: BrokerInstant) {
        serverDisconnect(connection, reason: reason, reasonString: details, lifecycle: .clientError,
                         logReason: Self.logReason(reason), at: now)
    }

    static func logReason(_ reason: ReasonCode) -> String {
        switch reason {
        case .malformedPacket: "MALFORMED_PACKET"
        case .protocolError: "PROTOCOL_ERROR"
        case .packetTooLarge: "PACKET_TOO_LARGE"
        case .qosNotSupported: "QOS_NOT_SUPPORTED"
        case .topicAliasInvalid: "TOPIC_ALIAS_INVALID"
        case .topicNameInvalid: "TOPIC_NAME_INVALID"
        case .payloadFormatInvalid: "PAYLOAD_FORMAT_INVALID"
        case .unsupportedProtocolVersion: "UNSUPPORTED_PROTOCOL_VERSION"
        case .receiveMaximumExceeded: "RECEIVE_MAXIMUM_EXCEEDED"
        default: "CLIENT_ERROR"
        }
    }

    /// Everything that happens when a connected client's connection ends, whatever the cause.
    func endConnection(
        _ connection: Connection, reason: DisconnectReason, clientInitiated: Bool, publishWill: Bool,
        at now: BrokerInstant, logReason: String? = nil, details: String? = nil
    ) {
        guard connection.state == .connected else {
            connection.state = .closed
            connections[connection.info.id] = nil
            return
        }
        connection.state = .closed
        connections[connection.info.id] = nil

        if clientInitiated {
            log(.disconnect, .success, connection, at: now, disconnectReason: reason.rawValue)
        } else {
            log(.disconnect, .failure, connection, at: now, reason: logReason ?? reason.rawValue, details: details,
                level: .error, disconnectReason: reason.rawValue)
        }
        if var entry = lifecycleVersions[connection.clientID] {
            entry.lastDisconnect = now
            entry.reason = reason
            lifecycleVersions[connection.clientID] = entry
        }
        publishPresenceEvent(connected: false, connection, at: now, reason: reason, clientInitiated: clientInitiated)

        guard let session = connection.session, session.connection == connection.info.id else { return }
        session.connection = nil
        session.authorization = nil
        session.disconnectedAt = now
        session.lastDisconnectReason = reason
        // An offline session holds no publisher back.
        releaseAllHeldPublishers(of: session)
        // The will goes out under what the client may do now: a policy change since CONNECT counts.
        var willDenied = false
        if publishWill, let will = connection.will {
            var checks: [(DeviceAction, String)] = [(.publish, will.topic)]
            if will.retain { checks.append((.retainPublish, will.topic)) }
            if let explanation = denial(connection.authorization, checks, at: now) {
                willDenied = true
                logDenial(.publishIn, connection, topic: will.topic, retain: will.retain,
                          explanation: "the will was not published: " + explanation, at: now)
            }
        }
        if publishWill, !willDenied, let will = connection.will {
            var publish = PublishPacket(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
                                        properties: will.properties)
            publish.packetID = nil
            let message = StoredMessage(publish, at: now, publisher: session.key,
                                        maximumExpiry: limits.maximumMessageExpiry, compact: true)
            let delay = min(will.delayInterval ?? 0, session.expiryInterval)
            if delay == 0 {
                self.publishWill(message, from: session, at: now)
            } else {
                session.pendingWill = (message, now.adding(nanoseconds: .seconds(delay)), connection.authorizationRequest)
            }
        }
        if session.expiryInterval == 0 {
            removeSession(session, at: now)
        } else {
            session.compactInflight()
            offlineSessions.insert(session.key)
        }
    }

    /// A will whose delay ran out (or whose session ended first): authorized again as the policies are
    /// now, since they may have changed while the client was away.
    func publishDelayedWill(_ message: StoredMessage, from session: Session, request: ConnectAuthorizationRequest?,
                            at now: BrokerInstant) {
        if let authorizer {
            let verdict: AuthorizationVerdict
            if let request {
                let authorization = authorizer.authorization(for: request)
                var checks: [(DeviceAction, String)] = [(.publish, message.topic)]
                if message.retain { checks.append((.retainPublish, message.topic)) }
                verdict = denial(authorization, checks, at: now).map(AuthorizationVerdict.denied) ?? .allowed
            } else {
                verdict = .denied("the will's connection was never authorized")
            }
            if case .denied(let explanation) = verdict {
                if logLevel <= .error {
                    actions.append(.log(IoTLogEvent(
                        epochMilliseconds: now.epochMilliseconds, level: .error, eventType: .publishIn, status: .failure,
                        clientID: session.clientID, principalID: request?.connection.principalID, topicName: message.topic,
                        retain: message.retain, reason: "AUTHORIZATION_FAILURE", details: "the will was not published: " + explanation)))
                }
                return
            }
        }
        publishWill(message, from: session, at: now)
    }

    func publishWill(_ message: StoredMessage, from session: Session, at now: BrokerInstant) {
        var message = message
        // A will's message expiry starts when it is published (AWS: "a will's expiry starts after disconnect").
        if let interval = message.properties.messageExpiryInterval {
            message.expiresAt = now.adding(nanoseconds: .seconds(interval))
        }
        if message.retain, retained.store(message) == .quotaExceeded, logLevel <= .warn {
            actions.append(.log(IoTLogEvent(
                epochMilliseconds: now.epochMilliseconds, level: .warn, eventType: .publishIn, status: .failure,
                clientID: session.clientID, topicName: message.topic, retain: true, reason: "RETAINED_QUOTA_EXCEEDED",
                details: "the will was published but not retained: the retained message store is full")))
        }
        route(message, at: now)
        offerToRules(message, clientID: session.clientID, principalID: "", at: now)
    }
}
