import MQTTCore
import NIOCore

extension Broker {
    func log(
        _ type: IoTLogEvent.EventType, _ status: IoTLogEvent.Status, _ connection: Connection, at now: BrokerInstant,
        topic: String? = nil, retain: Bool = false, reason: String? = nil, details: String? = nil,
        level: IoTLogLevel = .info, disconnectReason: String? = nil
    ) {
        guard level >= logLevel, logLevel != .disabled else { return }
        actions.append(.log(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: level, eventType: type, status: status,
            clientID: connection.clientID.isEmpty ? nil : connection.clientID, principalID: connection.info.principalID,
            sourceIP: connection.info.sourceIP, sourcePort: connection.info.sourcePort, topicName: topic,
            retain: retain, reason: reason, details: details, disconnectReason: disconnectReason)))
    }

    /// AWS sends no lifecycle events for client ids containing wildcard characters.
    func wantsLifecycleEvents(_ clientID: String) -> Bool {
        !clientID.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    /// `$aws/events/presence/{connected|disconnected}/{clientId}` (reference 4.9).
    func publishPresenceEvent(
        connected: Bool, _ connection: Connection, at now: BrokerInstant,
        reason: DisconnectReason? = nil, clientInitiated: Bool = false
    ) {
        guard wantsLifecycleEvents(connection.clientID) else { return }
        if reportsPresence { actions.append(.presenceChanged(clientID: connection.clientID)) }
        var json = JSONText()
        json.field("clientId", connection.clientID)
        json.field("timestamp", now.epochMilliseconds)
        json.field("eventType", connected ? "connected" : "disconnected")
        json.field("sessionIdentifier", connection.info.sessionIdentifier)
        json.field("principalIdentifier", connection.info.principalID)
        if connected {
            json.field("ipAddress", connection.info.sourceIP)
        } else {
            json.field("clientInitiatedDisconnect", clientInitiated)
            json.field("disconnectReason", (reason ?? .unknown).rawValue)
        }
        json.field("versionNumber", connection.lifecycleVersion)
        let kind = connected ? "connected" : "disconnected"
        publishEvent(topic: "$aws/events/presence/\(kind)/\(connection.clientID)", json.finished(), at: now)
    }

    /// `$aws/events/subscriptions/{subscribed|unsubscribed}/{clientId}` (reference 4.9).
    func publishSubscriptionEvent(subscribed: Bool, _ connection: Connection, topics: [String], at now: BrokerInstant) {
        guard wantsLifecycleEvents(connection.clientID) else { return }
        let kind = subscribed ? "subscribed" : "unsubscribed"
        var json = JSONText()
        json.field("clientId", connection.clientID)
        json.field("timestamp", now.epochMilliseconds)
        json.field("eventType", kind)
        json.field("sessionIdentifier", connection.info.sessionIdentifier)
        json.field("principalIdentifier", connection.info.principalID)
        json.field("topics", topics)
        publishEvent(topic: "$aws/events/subscriptions/\(kind)/\(connection.clientID)", json.finished(), at: now)
    }

    /// A registry event (certificate auto-registration, later thing events) to every subscriber.
    /// - Parameter ruleDepth: the depth of the rule republish that asked the service (0: none); rules
    ///   take the event only below the maximum depth.
    public func publishServiceEvent(topic: String, payload: String, ruleDepth: Int = 0, at now: BrokerInstant) -> [BrokerAction] {
        publishEvent(topic: topic, payload, ruleDepth: ruleDepth, at: now)
        return takeActions()
    }

    /// Publishes a service event at QoS 1, so QoS 1 subscribers get it reliably.
    func publishEvent(topic: String, _ payload: String, ruleDepth: Int = 0, at now: BrokerInstant) {
        let publish = PublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: .atLeastOnce,
                                    properties: PublishProperties(payloadFormat: .utf8, contentType: "application/json"))
        let message = StoredMessage(publish, at: now, publisher: nil, maximumExpiry: limits.maximumMessageExpiry, compact: false)
        route(message, at: now)
        // Rules may take lifecycle events, registry events and the shadow's answers, as on AWS.
        offerToRules(message, clientID: "", principalID: "", depth: ruleDepth, at: now)
    }

    /// A message the broker made itself (an event, a will) goes to the rules whose FROM takes it.
    func offerToRules(_ message: StoredMessage, clientID: String, principalID: String, depth: Int = 0, at now: BrokerInstant) {
        guard depth < Self.maximumRuleDepth, let rulesWant, rulesWant(message.topic) else { return }
        let publish = PublishPacket(topic: message.topic, payload: message.payload, qos: message.qos, properties: message.properties)
        actions.append(.ruleMessage(RuleMessage(publish: publish, clientID: clientID, principalID: principalID, sourceIP: nil,
                                                epochMilliseconds: now.epochMilliseconds, depth: depth)))
    }
}
