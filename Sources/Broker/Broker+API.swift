import MQTTCore
import NIOCore

/// What the HTTPS data plane (iot-data) asks of the broker: publishing without an MQTT connection, and
/// reading the retained store. Same checks as an MQTT PUBLISH, refusals as values the edge turns into
/// AWS errors.
extension Broker {
    /// Why an API publish was refused, with the iot-data exception and status to answer.
    public struct APIRefusal: Error, Sendable, Hashable {
        public var awsErrorType: String
        public var httpStatus: Int
        public var message: String

        public init(awsErrorType: String, httpStatus: Int, message: String) {
            self.awsErrorType = awsErrorType
            self.httpStatus = httpStatus
            self.message = message
        }

        static func invalid(_ message: String) -> APIRefusal {
            APIRefusal(awsErrorType: "InvalidRequestException", httpStatus: 400, message: message)
        }
    }

    /// A retained message as GetRetainedMessage and ListRetainedMessages describe it.
    public struct RetainedMessageInfo: Sendable, Hashable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: Int
        public var lastModifiedMilliseconds: Int64
        public var userProperties: [UserProperty]
    }

    /// Publish (iot-data): routed like a device's PUBLISH, retained when asked (an empty payload deletes
    /// the retained message). `principal` names the caller in the log.
    public func publishFromAPI(_ publish: PublishPacket, principal: String, sourceIP: String?, at now: BrokerInstant) -> (APIRefusal?, [BrokerAction]) {
        func refuse(_ refusal: APIRefusal, _ reason: String) -> (APIRefusal?, [BrokerAction]) {
            if logLevel <= .error {
                actions.append(.log(IoTLogEvent(epochMilliseconds: now.epochMilliseconds, level: .error, eventType: .publishIn, status: .failure,
                                                principalID: principal, sourceIP: sourceIP, topicName: publish.topic, retain: publish.retain,
                                                reason: reason, details: refusal.message)))
            }
            return (refusal, takeActions())
        }
        if publish.qos == .exactlyOnce { return refuse(.invalid("qos must be 0 or 1."), "QOS_NOT_SUPPORTED") }
        if publish.payload.readableBytes > limits.maximumPayloadSize {
            return refuse(APIRefusal(awsErrorType: "RequestEntityTooLargeException", httpStatus: 413,
                                     message: "The payload is larger than \(limits.maximumPayloadSize) bytes."), "PAYLOAD_LIMIT_EXCEEDED")
        }
        let basicIngest = Self.isBasicIngest(publish.topic)
        if let problem = topicNameProblem(publish.topic) {
            return refuse(.invalid("The topic is not valid: \(problem)."), "TOPIC_NAME_INVALID")
        }
        // The shadow's request topics may be published over HTTPS too, as on AWS; other `$` topics not.
        let serviceRequest = publish.topic.hasPrefix("$") && isServiceRequest(publish.topic)
        if publish.topic.hasPrefix("$") && !serviceRequest && !basicIngest {
            return refuse(APIRefusal(awsErrorType: "ForbiddenException", httpStatus: 403,
                                     message: "Publishing to reserved '$' topics is not allowed."), "AUTHORIZATION_FAILURE")
        }
        if let responseTopic = publish.properties.responseTopic, Topic.validateName(responseTopic) != nil {
            return refuse(.invalid("responseTopic must be a valid topic name without wildcards."), "CLIENT_ERROR")
        }
        if publish.properties.payloadFormat == .utf8, String(validating: publish.payload.readableBytesView, as: UTF8.self) == nil {
            return refuse(.invalid("The payload is declared UTF-8 but is not."), "PAYLOAD_FORMAT_INVALID")
        }
        var publish = publish
        publish.packetID = nil
        if serviceRequest || basicIngest { publish.retain = false }
        let message = StoredMessage(publish, at: now, publisher: nil, maximumExpiry: limits.maximumMessageExpiry, compact: false)
        if publish.retain {
            var stored = message
            stored.payload = ByteBuffer(bytes: publish.payload.readableBytesView)
            if retained.store(stored) == .quotaExceeded {
                return refuse(APIRefusal(awsErrorType: "ThrottlingException", httpStatus: 429, message: "The retained message store is full."),
                              "RETAINED_QUOTA_EXCEEDED")
            }
        }
        if logLevel <= .debug {
            actions.append(.log(IoTLogEvent(epochMilliseconds: now.epochMilliseconds, level: .debug, eventType: .publishIn, status: .success,
                                            principalID: principal, sourceIP: sourceIP, topicName: publish.topic, retain: publish.retain)))
        }
        if !basicIngest { route(message, at: now) }
        if serviceRequest {
            actions.append(.serviceRequest(ServiceRequest(topic: publish.topic, payload: publish.payload, clientID: "", principalID: principal)))
        }
        if basicIngest || rulesWant?(publish.topic) == true {
            actions.append(.ruleMessage(RuleMessage(publish: publish, clientID: "", principalID: principal, sourceIP: sourceIP,
                                                    epochMilliseconds: now.epochMilliseconds, depth: 0)))
        }
        return (nil, takeActions())
    }

    /// A rule's republish: routed like a publish from the API (any valid topic name, `$` topics included,
    /// as AWS's `$$` allows; Basic Ingest goes to its rule only), and handed to rules again below
    /// `maximumRuleDepth`. Why it was refused, if it was.
    public func publishFromRule(_ publish: PublishPacket, depth: Int, at now: BrokerInstant) -> (refusal: String?, actions: [BrokerAction]) {
        let basicIngest = Self.isBasicIngest(publish.topic)
        if let problem = topicNameProblem(publish.topic) {
            return ("The topic \(publish.topic.prefix(256)) is not valid: \(problem).", takeActions())
        }
        guard publish.payload.readableBytes <= limits.maximumPayloadSize else {
            return ("The payload is larger than \(limits.maximumPayloadSize) bytes.", takeActions())
        }
        var publish = publish
        publish.packetID = nil
        publish.retain = false
        if basicIngest {
            if depth < Self.maximumRuleDepth {
                actions.append(.ruleMessage(RuleMessage(publish: publish, clientID: "", principalID: "rules", sourceIP: nil,
                                                        epochMilliseconds: now.epochMilliseconds, depth: depth + 1)))
            }
            return (nil, takeActions())
        }
        route(StoredMessage(publish, at: now, publisher: nil, maximumExpiry: limits.maximumMessageExpiry, compact: false), at: now)
        if publish.topic.hasPrefix("$") && isServiceRequest(publish.topic) {
            actions.append(.serviceRequest(ServiceRequest(topic: publish.topic, payload: publish.payload, clientID: "", principalID: "rules",
                                                          ruleDepth: depth + 1)))
        }
        if depth < Self.maximumRuleDepth, rulesWant?(publish.topic) == true {
            actions.append(.ruleMessage(RuleMessage(publish: publish, clientID: "", principalID: "rules", sourceIP: nil,
                                                    epochMilliseconds: now.epochMilliseconds, depth: depth + 1)))
        }
        return (nil, takeActions())
    }

    /// GetRetainedMessage.
    public func retainedMessageInfo(topic: String, at now: BrokerInstant) -> RetainedMessageInfo? {
        guard let message = retained.message(topic: topic), !message.isExpired(at: now) else { return nil }
        return Self.info(message)
    }

    /// A retained message as ListRetainedMessages lists it: no payload.
    public struct RetainedSummary: Sendable, Hashable {
        public var topic: String
        public var payloadSize: Int
        public var qos: Int
        public var lastModifiedMilliseconds: Int64
    }

    /// ListRetainedMessages: one page of live retained messages by topic, after `afterTopic`, and whether more follow.
    public func retainedSummaries(after afterTopic: String?, limit: Int, at now: BrokerInstant) -> (page: [RetainedSummary], more: Bool) {
        let all = retained.all(at: now).lazy.filter { afterTopic == nil || $0.topic > afterTopic! }
            .map { RetainedSummary(topic: $0.topic, payloadSize: $0.payload.readableBytes, qos: Int($0.qos.rawValue),
                                   lastModifiedMilliseconds: $0.receivedAt.epochMilliseconds) }
            .sorted { $0.topic < $1.topic }
        return (Array(all.prefix(limit)), all.count > limit)
    }

    static func info(_ message: StoredMessage) -> RetainedMessageInfo {
        RetainedMessageInfo(topic: message.topic, payload: Array(message.payload.readableBytesView), qos: Int(message.qos.rawValue),
                            lastModifiedMilliseconds: message.receivedAt.epochMilliseconds, userProperties: message.properties.userProperties)
    }
}

/// The connection-management operations of the data endpoint (reference 4.11): GetConnection,
/// ListSubscriptions, DeleteConnection. Client ids are exact; a client id starting with `$` is refused
/// by the edge before it gets here.
extension Broker {
    /// What GetConnection answers about a client id: its live connection, or its persistent session.
    public struct ConnectionDescription: Sendable, Hashable {
        public var clientID: String
        public var connected: Bool
        /// MQTT 3.1.1 clean session, or MQTT 5 clean start with no session expiry.
        public var cleanSession: Bool
        public var sourceIP: String?
        public var sourcePort: Int?
        public var keepAlive: Int?
        public var connectedSinceMilliseconds: Int64?
        public var disconnectedSinceMilliseconds: Int64?
        public var disconnectReason: String?
        public var sessionExpirySeconds: Int
        /// The certificate id of the live connection.
        public var principalID: String?
    }

    /// Fleet indexing's connectivity of a client id: connected and since when, or when and why it last
    /// left (known for an hour after, or while its session lasts); nil if it was never seen.
    public func connectivity(clientID: String) -> (connected: Bool, epochMilliseconds: Int64?, disconnectReason: String?)? {
        if let session = sessionsByClientID[clientID].flatMap({ sessions[$0] }),
           let connection = session.connection.flatMap({ connections[$0] }), connection.state == .connected {
            return (true, connection.connectedAt?.epochMilliseconds, nil)
        }
        if let entry = lifecycleVersions[clientID], let left = entry.lastDisconnect {
            return (false, left.epochMilliseconds, entry.reason?.rawValue)
        }
        if let session = sessionsByClientID[clientID].flatMap({ sessions[$0] }) {
            return (false, session.disconnectedAt?.epochMilliseconds, session.lastDisconnectReason?.rawValue)
        }
        return nil
    }

    public func describeConnection(clientID: String, at now: BrokerInstant) -> ConnectionDescription? {
        let session = sessionsByClientID[clientID].flatMap { sessions[$0] }
        let connection = session?.connection.flatMap { connections[$0] }.flatMap { $0.state == .connected ? $0 : nil }
        guard session != nil || connection != nil, let session else { return nil }
        var description = ConnectionDescription(
            clientID: clientID, connected: connection != nil, cleanSession: session.expiryInterval == 0, sourceIP: nil, sourcePort: nil,
            keepAlive: nil, connectedSinceMilliseconds: nil, disconnectedSinceMilliseconds: nil, disconnectReason: nil,
            sessionExpirySeconds: Int(session.expiryInterval), principalID: nil)
        if let connection {
            description.sourceIP = connection.info.sourceIP
            description.sourcePort = connection.info.sourcePort
            description.keepAlive = Int(connection.keepAlive)
            description.connectedSinceMilliseconds = connection.connectedAt?.epochMilliseconds
            description.principalID = connection.info.principalID
        } else {
            description.disconnectedSinceMilliseconds = session.disconnectedAt?.epochMilliseconds
            description.disconnectReason = session.lastDisconnectReason?.rawValue
        }
        return description
    }

    /// ListSubscriptions: one page of a client's subscriptions by filter, after `afterFilter`; nil if the
    /// client id has no session.
    public func subscriptions(clientID: String, after afterFilter: String?, limit: Int) -> (page: [(topicFilter: String, qos: Int)], more: Bool)? {
        guard let key = sessionsByClientID[clientID], let session = sessions[key] else { return nil }
        let all = session.subscriptions.values
            .map { subscription -> (topicFilter: String, qos: Int) in
                let filter = subscription.shareName.map { "$share/\($0)/\(subscription.filter)" } ?? subscription.filter
                return (filter, Int(subscription.entry.options.qos.rawValue))
            }
            .filter { afterFilter == nil || $0.topicFilter > afterFilter! }
            .sorted { $0.topicFilter < $1.topicFilter }
        return (Array(all.prefix(limit)), all.count > limit)
    }

    /// DeleteConnection: the client gets DISCONNECT 0x98 Administrative action (MQTT 5) and is closed,
    /// with the lifecycle reason API_INITIATED_DISCONNECT; `cleanSession` also removes its persistent
    /// session, `preventWillMessage` drops its will (a delayed one too). False if it is not connected.
    public func deleteConnection(clientID: String, cleanSession: Bool, preventWillMessage: Bool, at now: BrokerInstant) -> (found: Bool, actions: [BrokerAction]) {
        guard let key = sessionsByClientID[clientID], let session = sessions[key], let id = session.connection,
              let connection = connections[id], connection.state == .connected else { return (false, []) }
        if preventWillMessage { connection.will = nil }
        if connection.isV5 {
            actions.append(.send(id, .disconnect(DisconnectPacket(reasonCode: .administrativeAction,
                                                                  properties: MQTTProperties(reasonString: "disconnected by DeleteConnection")))))
        }
        actions.append(.close(id))
        endConnection(connection, reason: .apiInitiatedDisconnect, clientInitiated: false, publishWill: !preventWillMessage, at: now,
                      logReason: DisconnectReason.apiInitiatedDisconnect.rawValue, details: "DeleteConnection")
        if preventWillMessage { session.pendingWill = nil }
        if cleanSession, let remaining = sessions[key] { removeSession(remaining, at: now) }
        return (true, takeActions())
    }
}

/// SendDirectMessage (reference 4.11): one message to one connected client, without a subscription;
/// the receiver must be allowed iot:Receive on the topic. Not routed, not queued, never retained.
extension Broker {
    public enum DirectMessageOutcome: Sendable, Hashable {
        /// Sent at QoS 0.
        case sent
        /// Sent at QoS 1; the PUBACK comes back as `.directMessageAcknowledged(token)`.
        case awaitingAcknowledgement
        case refused(APIRefusal)
    }

    public func sendDirectMessage(clientID: String, _ publish: PublishPacket, confirmation: Bool, token: UInt64,
                                  at now: BrokerInstant) -> (DirectMessageOutcome, [BrokerAction]) {
        func refuse(_ type: String, _ status: Int, _ message: String) -> (DirectMessageOutcome, [BrokerAction]) {
            (.refused(APIRefusal(awsErrorType: type, httpStatus: status, message: message)), takeActions())
        }
        if publish.payload.readableBytes > limits.maximumPayloadSize {
            return refuse("RequestEntityTooLargeException", 413, "The payload is larger than \(limits.maximumPayloadSize) bytes.")
        }
        if let problem = topicNameProblem(publish.topic) { return refuse("InvalidRequestException", 400, "The topic is not valid: \(problem).") }
        if publish.topic.hasPrefix("$") { return refuse("InvalidRequestException", 400, "Direct messages may not use '$' topics.") }
        if publish.properties.payloadFormat == .utf8, String(validating: publish.payload.readableBytesView, as: UTF8.self) == nil {
            return refuse("InvalidRequestException", 400, "The payload is declared UTF-8 but is not.")
        }
        let session = sessionsByClientID[clientID].flatMap { sessions[$0] }
        guard let session, let id = session.connection, let connection = connections[id], connection.state == .connected else {
            return refuse("ResourceNotFoundException", 404, session == nil
                ? "The client \(clientID) is not connected."
                : "The client \(clientID) is not connected; its persistent session does not queue direct messages.")
        }
        if authorizer != nil {
            let verdict = session.authorization?.decide(.receive, publish.topic, at: now) ?? .denied("the connection has no authorization")
            if case .denied(let explanation) = verdict {
                logDenial(.publishOut, connection, topic: publish.topic, explanation: explanation, at: now)
                return refuse("ForbiddenException", 403, "The receiver may not receive on this topic: \(explanation)")
            }
        }
        var message = publish
        message.retain = false
        message.dup = false
        message.qos = confirmation ? .atLeastOnce : .atMostOnce
        message.packetID = nil
        if confirmation {
            guard connection.directAcks.count < limits.maximumInflightOutbound else {
                return refuse("ThrottlingException", 429, "Too many direct messages await this client's acknowledgement.")
            }
            var packetID = session.allocatePacketID()
            while connection.directAcks[packetID] != nil { packetID = session.allocatePacketID() }
            message.packetID = packetID
            connection.directAcks[packetID] = token
        }
        if session.maximumPacketSize != .max,
           MQTTPacketEncoder.encodedSize(of: message, version: session.protocolVersion) > session.maximumPacketSize {
            if let packetID = message.packetID { connection.directAcks[packetID] = nil }
            return refuse("RequestEntityTooLargeException", 413, "The message is larger than the client's Maximum Packet Size.")
        }
        actions.append(.send(id, .publish(message)))
        if logLevel <= .debug { log(.publishOut, .success, connection, at: now, topic: message.topic, level: .debug) }
        return (confirmation ? .awaitingAcknowledgement : .sent, takeActions())
    }

    /// Forgets a direct message whose acknowledgement is no longer awaited (the API call timed out).
    public func forgetDirectMessage(clientID: String, token: UInt64) {
        guard let session = sessionsByClientID[clientID].flatMap({ sessions[$0] }), let id = session.connection,
              let connection = connections[id] else { return }
        connection.directAcks = connection.directAcks.filter { $0.value != token }
    }
}
