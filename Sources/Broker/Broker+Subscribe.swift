import MQTTCore

extension Broker {
    /// A filter split into its share name (for `$share/...`) and the filter proper, or the reason code
    /// that refuses it.
    func parseFilter(_ text: String) -> Result<(filter: String, shareName: String?), SubscribeRefusal> {
        let shared: SharedSubscription?
        do {
            shared = try SharedSubscription.parse(text)
        } catch {
            return .failure(SubscribeRefusal(.topicFilterInvalid, "\(error)"))
        }
        let filter = shared?.filter ?? text
        if shared == nil, let error = Topic.validateFilter(filter) {
            return .failure(SubscribeRefusal(.topicFilterInvalid, "\(error)"))
        }
        if let shared, shared.shareName.count > limits.maximumShareNameLength {
            return .failure(SubscribeRefusal(.topicFilterInvalid, "share name longer than \(limits.maximumShareNameLength)"))
        }
        // AWS: 256 bytes and 7 slashes; the `$share/{name}/` prefix counts toward neither.
        if filter.utf8.count > limits.maximumTopicLength {
            return .failure(SubscribeRefusal(.topicFilterInvalid, "topic filter longer than \(limits.maximumTopicLength) bytes"))
        }
        if Topic.levelSeparatorCount(filter) > limits.maximumTopicSlashes {
            return .failure(SubscribeRefusal(.topicFilterInvalid, "topic filter has more than \(limits.maximumTopicSlashes) '/' separators"))
        }
        return .success((filter, shared?.shareName))
    }

    struct SubscribeRefusal: Error {
        var code: ReasonCode
        var details: String
        init(_ code: ReasonCode, _ details: String) {
            self.code = code
            self.details = details
        }
    }

    func handleSubscribe(_ subscribe: SubscribePacket, on connection: Connection, at now: BrokerInstant) {
        guard let session = connection.session else { return }
        let id = connection.info.id
        var codes: [ReasonCode] = []
        var subscribed: [String] = []
        var retainedToSend: [(StoredMessage, QoS, [UInt32])] = []

        if subscribe.subscriptions.count > limits.maximumFiltersPerSubscribe {
            // AWS: at most 8 filters per SUBSCRIBE; the whole packet is refused, nothing is subscribed.
            for subscription in subscribe.subscriptions {
                log(.subscribe, .failure, connection, at: now, topic: subscription.filter, reason: "SUBSCRIBE_LIMIT_EXCEEDED",
                    details: "more than \(limits.maximumFiltersPerSubscribe) topic filters in one SUBSCRIBE", level: .error)
            }
            let codes = [ReasonCode](repeating: .quotaExceeded, count: subscribe.subscriptions.count)
            actions.append(.send(id, .suback(SubAckPacket(packetID: subscribe.packetID, reasonCodes: codes,
                properties: problem(connection, "at most \(limits.maximumFiltersPerSubscribe) topic filters per SUBSCRIBE")))))
            return
        }

        for request in subscribe.subscriptions {
            let parsed: (filter: String, shareName: String?)
            switch parseFilter(request.filter) {
            case .success(let value): parsed = value
            case .failure(let refusal):
                codes.append(refusal.code)
                log(.subscribe, .failure, connection, at: now, topic: request.filter, reason: "TOPIC_FILTER_INVALID",
                    details: refusal.details, level: .error)
                continue
            }
            if parsed.shareName != nil && request.options.noLocal {
                // Spec 3.8.3.1: No Local on a shared subscription is a Protocol Error.
                return protocolViolation(on: connection, reason: .protocolError, "No Local set on a shared subscription", at: now)
            }
            if authorizer != nil,
               case .denied(let explanation) = connection.authorization?.decide(.subscribe, request.filter, at: now)
                   ?? .denied("the connection has no authorization") {
                // MQTT 5: 0x87 for this filter; 3.1.1 hears 0x80 (the encoder maps every failure).
                codes.append(.notAuthorized)
                logDenial(.subscribe, connection, topic: request.filter, explanation: explanation, at: now)
                continue
            }
            let key = TopicKey(request.filter)
            let exists = session.subscriptions[key] != nil
            if !exists && session.subscriptions.count >= limits.maximumSubscriptionsPerConnection {
                codes.append(.quotaExceeded)
                log(.subscribe, .failure, connection, at: now, topic: request.filter, reason: "SUBSCRIPTION_LIMIT_EXCEEDED",
                    details: "more than \(limits.maximumSubscriptionsPerConnection) subscriptions", level: .error)
                continue
            }
            var options = request.options
            if options.qos == .exactlyOnce { options.qos = .atLeastOnce }  // QoS 2 requests are granted QoS 1.
            let entry = SubscriptionEntry(options: options, identifier: subscribe.properties.subscriptionIdentifier)
            session.subscriptions[key] = SessionSubscription(filter: parsed.filter, shareName: parsed.shareName, entry: entry)
            index.insert(filter: parsed.filter, shareName: parsed.shareName, session: session.key, entry: entry)
            codes.append(options.qos == .atLeastOnce ? .grantedQoS1 : .grantedQoS0)
            subscribed.append(request.filter)
            log(.subscribe, .success, connection, at: now, topic: request.filter)

            // Retained messages: never for shared subscriptions; per Retain Handling otherwise.
            let sendRetained = parsed.shareName == nil && (options.retainHandling == .sendOnSubscribe
                || (options.retainHandling == .sendOnSubscribeIfNew && !exists))
            if sendRetained {
                // Bounded per SUBSCRIBE, so one wildcard cannot pour the whole store into one socket.
                let room = limits.maximumQueuedMessages - retainedToSend.count
                let matches = retained.matching(filter: parsed.filter, at: now, limit: room + 1)
                for message in matches.prefix(room) {
                    retainedToSend.append((message, options.qos, entry.identifier.map { [$0] } ?? []))
                }
                if matches.count > room {
                    log(.subscribe, .failure, connection, at: now, topic: request.filter, reason: "RETAINED_LIMIT_EXCEEDED",
                        details: "only the first \(limits.maximumQueuedMessages) matching retained messages are sent on subscribe",
                        level: .warn)
                }
            }
        }
        actions.append(.send(id, .suback(SubAckPacket(packetID: subscribe.packetID, reasonCodes: codes))))
        var compacted: StoredMessage?
        for (message, qos, identifiers) in retainedToSend {
            compacted = nil
            deliver(message, to: session, qos: min(message.qos, qos), retain: true, identifiers: identifiers,
                    compacted: &compacted, at: now)
        }
        if !subscribed.isEmpty { publishSubscriptionEvent(subscribed: true, connection, topics: subscribed, at: now) }
    }

    func handleUnsubscribe(_ unsubscribe: UnsubscribePacket, on connection: Connection, at now: BrokerInstant) {
        guard let session = connection.session else { return }
        var codes: [ReasonCode] = []
        var removed: [String] = []
        for text in unsubscribe.filters {
            guard case .success(let parsed) = parseFilter(text) else {
                codes.append(.topicFilterInvalid)
                log(.unsubscribe, .failure, connection, at: now, topic: text, reason: "TOPIC_FILTER_INVALID", level: .error)
                continue
            }
            if session.subscriptions.removeValue(forKey: TopicKey(text)) != nil {
                index.remove(filter: parsed.filter, shareName: parsed.shareName, session: session.key)
                codes.append(.success)
                removed.append(text)
                log(.unsubscribe, .success, connection, at: now, topic: text)
            } else {
                codes.append(.noSubscriptionExisted)
            }
        }
        actions.append(.send(connection.info.id, .unsuback(UnsubAckPacket(packetID: unsubscribe.packetID, reasonCodes: codes))))
        if !removed.isEmpty { publishSubscriptionEvent(subscribed: false, connection, topics: removed, at: now) }
    }
}
