import MQTTCore
import NIOCore

extension Broker {
    /// Why a topic name may not be published to, by the spec and AWS's limits; nil if it is fine.
    func topicNameProblem(_ topic: String) -> String? {
        if let error = Topic.validateName(topic) { return "\(error)" }
        return topicLimitProblem(topic)
    }

    /// Why a valid topic name is over AWS's limits (length, levels); nil if it is within them. A Basic
    /// Ingest topic's `$aws/rules/<rule>/` prefix does not count, as on AWS.
    func topicLimitProblem(_ topic: String) -> String? {
        let topic = Self.isBasicIngest(topic) ? Self.basicIngestRemainder(topic) : topic
        if topic.utf8.count > limits.maximumTopicLength { return "topic longer than \(limits.maximumTopicLength) bytes" }
        if Topic.levelSeparatorCount(topic) > limits.maximumTopicSlashes {
            return "topic has more than \(limits.maximumTopicSlashes) '/' separators"
        }
        return nil
    }

    func handlePublish(_ incoming: PublishPacket, on connection: Connection, at now: BrokerInstant) {
        let id = connection.info.id
        var publish = incoming

        // Rate limits delay the connection (reads pause) instead of dropping what was already sent.
        // The whole packet counts toward bandwidth, so bytes cannot hide in properties.
        var pauseUntil = connection.publishBucket.take(1, at: now)
        if limits.bytesPerSecond > 0,
           let until = connection.byteBucket.take(MQTTPacketEncoder.encodedSize(of: publish, version: connection.version), at: now) {
            pauseUntil = max(pauseUntil ?? until, until)
        }
        if let until = pauseUntil {
            actions.append(.pauseReading(id, until: until))
            if connection.pausedUntil.map({ $0 < now }) ?? true {
                log(.publishIn, .failure, connection, at: now, topic: publish.topic, reason: "THROTTLED",
                    details: "inbound rate above \(limits.publishesPerSecond) publishes/s or \(limits.bytesPerSecond) bytes/s: "
                        + "reading paused for \(until.nanoseconds(since: now) / 1_000_000) ms; nothing is dropped",
                    level: .warn)
            }
            connection.pausedUntil = until
            // The server chose not to read: the client is not idle meanwhile, so keep alive counts from
            // the end of the pause.
            connection.lastActivity = max(connection.lastActivity, until)
        }

        if publish.qos == .exactlyOnce {
            // AWS: a publish above the maximum QoS gets DISCONNECT 0x9B; 3.1.1 has no way to say it.
            return protocolViolation(on: connection, reason: .qosNotSupported, "QoS 2 is not supported (maximum QoS is 1)", at: now)
        }
        if !publish.properties.subscriptionIdentifiers.isEmpty {
            return protocolViolation(on: connection, reason: .protocolError, "a client may not send Subscription Identifiers", at: now)
        }
        if publish.payload.readableBytes > limits.maximumPayloadSize {
            return protocolViolation(on: connection, reason: .packetTooLarge,
                                     "payload larger than \(limits.maximumPayloadSize) bytes", at: now)
        }

        // MQTT 5 topic aliases (inbound).
        if let alias = publish.properties.topicAlias {
            guard Int(alias) <= limits.topicAliasMaximum else {
                return protocolViolation(on: connection, reason: .topicAliasInvalid,
                                         "topic alias \(alias) above the maximum of \(limits.topicAliasMaximum)", at: now)
            }
            if publish.topic.isEmpty {
                guard let topic = connection.topicAliases[alias] else {
                    return protocolViolation(on: connection, reason: .protocolError, "topic alias \(alias) is not mapped", at: now)
                }
                publish.topic = topic
            } else {
                connection.topicAliases[alias] = publish.topic
            }
            publish.properties.topicAlias = nil
        }

        if publish.topic.isEmpty && connection.isV5 {
            return protocolViolation(on: connection, reason: .protocolError, "empty topic name without a topic alias", at: now)
        }
        if let responseTopic = publish.properties.responseTopic, Topic.validateName(responseTopic) != nil {
            return protocolViolation(on: connection, reason: .protocolError, "Response Topic must be a valid topic name without wildcards", at: now)
        }

        func reject(_ reason: ReasonCode, _ logReason: String, _ details: String) {
            log(.publishIn, .failure, connection, at: now, topic: publish.topic, retain: publish.retain,
                reason: logReason, details: details, level: .error)
            if !connection.isV5 {
                // 3.1.1 cannot refuse a PUBLISH; AWS closes the connection.
                serverDisconnect(connection, reason: reason, reasonString: details,
                                 lifecycle: reason == .notAuthorized ? .authError : .clientError, logReason: logReason, at: now)
            } else if let packetID = publish.packetID {
                actions.append(.send(id, .puback(AckPacket(packetID: packetID, reasonCode: reason,
                                                           properties: problem(connection, details)))))
            }
        }

        if let error = Topic.validateName(publish.topic) {
            // Wildcards or control characters make the PUBLISH malformed ([MQTT-3.3.2-2]): there is no
            // message to acknowledge, so both versions close (MQTT 5 after DISCONNECT 0x90).
            log(.publishIn, .failure, connection, at: now, topic: publish.topic, retain: publish.retain,
                reason: "TOPIC_NAME_INVALID", details: "\(error)", level: .error)
            return protocolViolation(on: connection, reason: .topicNameInvalid, "topic name: \(error)", at: now)
        }
        // Basic Ingest (`$aws/rules/<rule>/...`) goes to the rule alone; its prefix does not count toward
        // the topic limits.
        let basicIngest = Self.isBasicIngest(publish.topic)
        if let problem = topicLimitProblem(publish.topic) {
            // AWS's limits (length, levels): MQTT 5 hears PUBACK 0x90 for QoS 1, 3.1.1 is closed.
            return reject(.topicNameInvalid, "TOPIC_NAME_INVALID", problem)
        }
        let serviceRequest = publish.topic.hasPrefix("$") && isServiceRequest(publish.topic)
        if publish.topic.hasPrefix("$") && !serviceRequest && !basicIngest {
            return reject(.notAuthorized, "AUTHORIZATION_FAILURE", "devices may not publish to reserved '$' topics")
        }
        // A request is answered, never kept: its RETAIN flag is ignored (no PUBACK code could refuse it).
        if serviceRequest || basicIngest { publish.retain = false }
        if authorizer != nil {
            guard let authorization = connection.authorization else {
                return reject(.notAuthorized, "AUTHORIZATION_FAILURE", "the connection has no authorization")
            }
            if case .denied(let explanation) = authorization.decide(.publish, publish.topic, at: now) {
                return reject(.notAuthorized, "AUTHORIZATION_FAILURE", explanation)
            }
            if publish.retain, case .denied(let explanation) = authorization.decide(.retainPublish, publish.topic, at: now) {
                return reject(.notAuthorized, "AUTHORIZATION_FAILURE", explanation)
            }
        }
        if publish.properties.payloadFormat == .utf8,
           String(validating: publish.payload.readableBytesView, as: UTF8.self) == nil {
            return reject(.payloadFormatInvalid, "PAYLOAD_FORMAT_INVALID", "payload is declared UTF-8 but is not")
        }

        let message = StoredMessage(publish, at: now, publisher: connection.session?.key,
                                    maximumExpiry: limits.maximumMessageExpiry, compact: false)
        if publish.retain {
            var stored = message
            stored.payload = ByteBuffer(bytes: publish.payload.readableBytesView)
            if retained.store(stored) == .quotaExceeded {
                return reject(.quotaExceeded, "RETAINED_QUOTA_EXCEEDED", "the retained message store is full")
            }
        }
        log(.publishIn, .success, connection, at: now, topic: publish.topic, retain: publish.retain, level: .debug)
        if let packetID = publish.packetID {
            actions.append(.send(id, .puback(AckPacket(packetID: packetID))))
        }
        if !basicIngest { route(message, at: now) }
        if serviceRequest {
            actions.append(.serviceRequest(ServiceRequest(topic: publish.topic, payload: publish.payload,
                                                          clientID: connection.clientID, principalID: connection.info.principalID)))
        }
        if basicIngest || rulesWant?(publish.topic) == true {
            actions.append(.ruleMessage(RuleMessage(publish: publish, clientID: connection.clientID, principalID: connection.info.principalID,
                                                    sourceIP: connection.info.sourceIP, epochMilliseconds: now.epochMilliseconds, depth: 0)))
        }
    }

    /// Cheap for ordinary topics: only one starting with `$` is compared.
    static func isBasicIngest(_ topic: String) -> Bool {
        topic.utf8.first == UInt8(ascii: "$") && topic.hasPrefix(basicIngestPrefix) && topic.utf8.count > basicIngestPrefix.utf8.count
    }

    /// The topic after `$aws/rules/<rule>/`.
    static func basicIngestRemainder(_ topic: String) -> String {
        let rest = topic.dropFirst(basicIngestPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        return String(rest[rest.index(after: slash)...])
    }

    /// MQTT 5 reason string, unless the client asked for no problem information.
    func problem(_ connection: Connection, _ details: String) -> MQTTProperties {
        connection.requestProblemInformation ? MQTTProperties(reasonString: details) : .none
    }

    /// Delivers a message to every matching subscription: one copy per session for ordinary
    /// subscriptions (highest QoS, all subscription identifiers), one member per shared group.
    func route(_ message: StoredMessage, at now: BrokerInstant) {
        matchedNodes.removeAll(keepingCapacity: true)
        index.forEachMatch(topic: message.topic) { matchedNodes.append($0) }
        var queued: StoredMessage?
        if matchedNodes.count == 1 {
            // One matching filter (the common case): each subscriber appears once, nothing to merge.
            let node = matchedNodes[0]
            for (key, entry) in node.subscribers {
                if entry.options.noLocal && key == message.publisher { continue }
                guard let session = sessions[key] else { continue }
                deliver(message, to: session, qos: min(message.qos, entry.options.qos),
                        retain: entry.options.retainAsPublished && message.retain,
                        identifiers: entry.identifier.map { [$0] } ?? [], compacted: &queued, at: now)
            }
        } else if matchedNodes.count > 1 {
            var targets: [SessionKey: (qos: QoS, retainAsPublished: Bool, identifiers: [UInt32])] = [:]
            for node in matchedNodes {
                for (key, entry) in node.subscribers {
                    if entry.options.noLocal && key == message.publisher { continue }
                    var target = targets[key] ?? (.atMostOnce, false, [])
                    target.qos = max(target.qos, entry.options.qos)
                    target.retainAsPublished = target.retainAsPublished || entry.options.retainAsPublished
                    if let identifier = entry.identifier { target.identifiers.append(identifier) }
                    targets[key] = target
                }
            }
            for (key, target) in targets {
                guard let session = sessions[key] else { continue }
                deliver(message, to: session, qos: min(message.qos, target.qos),
                        retain: target.retainAsPublished && message.retain, identifiers: target.identifiers,
                        compacted: &queued, at: now)
            }
        }
        for node in matchedNodes where !node.shared.isEmpty {
            for group in node.shared.values {
                guard let (key, entry) = pickMember(of: group, for: message, at: now) else { continue }
                guard let session = sessions[key] else { continue }
                deliver(message, to: session, qos: min(message.qos, entry.options.qos),
                        retain: entry.options.retainAsPublished && message.retain,
                        identifiers: entry.identifier.map { [$0] } ?? [], compacted: &queued, at: now)
            }
        }
    }

    /// Round robin over the online members of a shared group; if none is online, a persistent member
    /// queues QoS 1 messages (AWS), and QoS 0 messages are dropped.
    /// Online members that may not receive the message are passed over, so one member's policies do not
    /// cost the others the message.
    func pickMember(of group: SharedGroup, for message: StoredMessage, at now: BrokerInstant) -> (SessionKey, SubscriptionEntry)? {
        let members = group.members
        guard !members.isEmpty else { return nil }
        for offset in 0..<members.count {
            let index = (group.cursor + offset) % members.count
            let key = members[index]
            if let session = sessions[key], session.connection != nil {
                if authorizer != nil, session.authorization?.decide(.receive, message.topic, at: now).isAllowed != true { continue }
                group.cursor = (index + 1) % members.count
                return (key, group.entries[key]!)
            }
        }
        guard message.qos == .atLeastOnce else { return nil }
        let key = members[group.cursor % members.count]
        group.cursor = (group.cursor + 1) % members.count
        return (key, group.entries[key]!)
    }

    /// Hands one message to one session: sent now if it is online and has window, queued (QoS 1) if not.
    func deliver(
        _ message: StoredMessage, to session: Session, qos: QoS, retain: Bool, identifiers: [UInt32],
        compacted: inout StoredMessage?, at now: BrokerInstant
    ) {
        let delivery = Delivery(message: message, qos: qos, retain: retain, subscriptionIdentifiers: identifiers)
        if qos == .atMostOnce {
            // QoS 0 is never stored for an offline session (AWS and the spec).
            if let connection = session.connection { send(delivery, to: session, on: connection, packetID: nil, dup: false, at: now) }
            return
        }
        if let connection = session.connection, session.pending.isEmpty, session.hasWindow {
            let packetID = session.allocatePacketID()
            if send(delivery, to: session, on: connection, packetID: packetID, dup: false, at: now) {
                session.addInflight(InflightMessage(packetID: packetID, delivery: delivery))
            }
            return
        }
        let heldPublisher = backPressureTarget(for: session, publisher: message.publisher)
        // A publisher is held back only after one of its messages is in the queue, and each one still
        // sends what it had in flight: with many publishers, that may go past the limit. Messages from
        // publishers that back pressure holds get room for one more queue's worth; the rest is dropped.
        let capacity = heldPublisher == nil ? limits.maximumQueuedMessages : 2 * limits.maximumQueuedMessages
        guard session.pending.count < capacity else {
            // Logged once when the queue fills, not once per dropped message.
            if session.droppedWhileFull == 0 {
                logDrop(session, topic: message.topic, reason: "QUEUE_FULL",
                        details: "session queue holds \(capacity) messages; new messages are dropped", at: now)
            }
            session.droppedWhileFull += 1
            return
        }
        if compacted == nil {
            var copy = message
            copy.compact()
            compacted = copy
        }
        var queuedDelivery = delivery
        queuedDelivery.message = compacted!
        session.pending.append(queuedDelivery)
        if let heldPublisher { applyBackPressure(for: session, holding: heldPublisher, at: now) }
    }

    /// The publisher's connection, if back pressure may hold it for this session: only a connected
    /// subscriber holds anyone back (an offline session's queue limit applies), and never itself.
    func backPressureTarget(for session: Session, publisher: SessionKey?) -> Connection? {
        guard limits.backPressureTimeoutMilliseconds > 0, session.connection != nil,
              let publisher, publisher != session.key,
              let connectionID = sessions[publisher]?.connection else { return nil }
        return connections[connectionID]
    }

    /// A connected subscriber whose QoS 1 queue is over half full holds its publishers back (their
    /// reads pause) while it drains, so QoS 1 is not dropped just because publishers are faster than
    /// one subscriber for a while. A pause lasts `backPressureTimeoutMilliseconds` and is extended while
    /// the subscriber makes progress, up to half the publisher's keep alive; a subscriber that stops
    /// acknowledging holds nobody for longer than the timeout.
    func applyBackPressure(for session: Session, holding connection: Connection, at now: BrokerInstant) {
        guard session.pending.count >= max(1, limits.maximumQueuedMessages / 2) else { return }
        let newlyHeld = session.heldPublishers.hold(connection.info.id)
        if newlyHeld { connection.heldSince = now }
        if newlyHeld || connection.pausedUntil.map({ $0 < now }) ?? true {
            hold(connection, until: now.adding(nanoseconds: backPressureTimeout))
        }
        if session.heldPublishers.lastExtended == nil { session.heldPublishers.lastExtended = now }
    }

    var backPressureTimeout: UInt64 { UInt64(limits.backPressureTimeoutMilliseconds) * 1_000_000 }

    func hold(_ connection: Connection, until: BrokerInstant) {
        actions.append(.pauseReading(connection.info.id, until: until))
        connection.pausedUntil = max(connection.pausedUntil ?? until, until)
        // The server chose not to read: keep alive counts from the end of the pause.
        connection.lastActivity = max(connection.lastActivity, until)
    }

    /// Lets held publishers go as the queue drains: once it is below a quarter, one for each message
    /// that left it (at least one per acknowledgement), oldest first. Released together, a thousand
    /// publishers would each send a window's worth into one queue at once. Meanwhile the pauses of
    /// those still waiting are extended, since the subscriber is making progress.
    func releaseHeldPublishers(of session: Session, drained: Int, at now: BrokerInstant) {
        guard !session.heldPublishers.isEmpty else { return }
        if session.pending.count <= limits.maximumQueuedMessages / 4 {
            var releases = max(1, drained)
            while releases > 0, let id = session.heldPublishers.releaseOldest() {
                guard let connection = connections[id] else { continue }
                actions.append(.resumeReading(id))
                connection.pausedUntil = nil
                connection.heldSince = nil
                releases -= 1
            }
        }
        guard drained > 0, let last = session.heldPublishers.lastExtended,
              now.nanoseconds(since: last) >= backPressureTimeout / 2 else { return }
        session.heldPublishers.lastExtended = now
        let until = now.adding(nanoseconds: backPressureTimeout)
        for id in session.heldPublishers.all {
            guard let connection = connections[id], let since = connection.heldSince else { continue }
            // Its PINGREQ waits unread while it is held: let it go before its keep alive runs out.
            guard until.nanoseconds(since: since) <= UInt64(connection.keepAlive) * 500_000_000 else { continue }
            hold(connection, until: until)
        }
    }

    /// An offline session holds no publisher back.
    func releaseAllHeldPublishers(of session: Session) {
        for id in session.heldPublishers.removeAll() {
            guard let connection = connections[id] else { continue }
            actions.append(.resumeReading(id))
            connection.pausedUntil = nil
            connection.heldSince = nil
        }
    }

    /// Writes one PUBLISH to a connection. Returns false if it could not be sent (expired, or larger
    /// than the client's Maximum Packet Size, in which case the spec says to act as if it was sent).
    @discardableResult
    func send(_ delivery: Delivery, to session: Session, on connection: ConnectionID, packetID: UInt16?, dup: Bool,
              at now: BrokerInstant) -> Bool {
        let message = delivery.message
        if message.isExpired(at: now) { return false }
        // Receive on every delivery (live, queued, retained, redelivered): a policy change stops what
        // the client may no longer receive, and only for this client.
        if authorizer != nil {
            // Fails closed: a connected session without an authorization receives nothing.
            let verdict = session.authorization?.decide(.receive, message.topic, at: now) ?? .denied("the connection has no authorization")
            if case .denied(let explanation) = verdict {
                if logLevel <= .error, let conn = connections[connection] {
                    logDenial(.publishOut, conn, topic: message.topic, explanation: explanation, at: now)
                }
                return false
            }
        }
        var properties = message.outgoingProperties(at: now)
        properties.subscriptionIdentifiers = delivery.subscriptionIdentifiers
        let publish = PublishPacket(topic: message.topic, payload: message.payload, qos: delivery.qos,
                                    retain: delivery.retain, dup: dup, packetID: packetID, properties: properties)
        if session.maximumPacketSize != .max,
           MQTTPacketEncoder.encodedSize(of: publish, version: session.protocolVersion) > session.maximumPacketSize {
            logDrop(session, topic: message.topic, reason: "PACKET_TOO_LARGE", details: "larger than the client's Maximum Packet Size", at: now)
            return false
        }
        actions.append(.send(connection, .publish(publish)))
        if logLevel <= .debug, let conn = connections[connection] {
            log(.publishOut, .success, conn, at: now, topic: message.topic, level: .debug)
        }
        return true
    }

    func logDrop(_ session: Session, topic: String?, reason: String, details: String, at now: BrokerInstant) {
        guard logLevel <= .warn else { return }
        actions.append(.log(IoTLogEvent(
            epochMilliseconds: now.epochMilliseconds, level: .warn, eventType: .publishOut, status: .failure,
            clientID: session.clientID, topicName: topic, reason: reason, details: details)))
    }

    func handlePubAck(_ ack: AckPacket, on connection: Connection, at now: BrokerInstant) {
        if let token = connection.directAcks.removeValue(forKey: ack.packetID) {
            actions.append(.directMessageAcknowledged(token: token))
            return
        }
        guard let session = connection.session else { return }
        // An unknown packet identifier is ignored: it may be the ack of a message already dropped.
        guard session.acknowledge(ack.packetID) else { return }
        drainPending(session, at: now)
    }

    /// Sends queued messages while the client's window has room.
    func drainPending(_ session: Session, at now: BrokerInstant) {
        guard let connection = session.connection else { return }
        var drained = 0
        defer {
            releaseHeldPublishers(of: session, drained: drained, at: now)
            if session.droppedWhileFull > 0 && session.pending.count < limits.maximumQueuedMessages {
                logDrop(session, topic: nil, reason: "QUEUE_FULL",
                        details: "\(session.droppedWhileFull) messages were dropped while the session queue was full", at: now)
                session.droppedWhileFull = 0
            }
        }
        let retryWindow = UInt64.seconds(limits.qos1RetryWindow)
        while session.hasWindow, let delivery = session.pending.popFirst() {
            drained += 1
            if delivery.message.isExpired(at: now) || now.nanoseconds(since: delivery.message.receivedAt) > retryWindow {
                continue
            }
            let packetID = session.allocatePacketID()
            if send(delivery, to: session, on: connection, packetID: packetID, dup: false, at: now) {
                session.addInflight(InflightMessage(packetID: packetID, delivery: delivery))
            }
        }
    }

    /// On a resumed session: unacknowledged messages first, with their packet identifiers and DUP set
    /// (spec 4.4), then the queue.
    func resumeDeliveries(_ session: Session, at now: BrokerInstant) {
        guard let connection = session.connection else { return }
        let retryWindow = UInt64.seconds(limits.qos1RetryWindow)
        let inflight = session.inflight
        session.clearInflight()
        var overflow: [Delivery] = []
        for message in inflight {
            if message.delivery.message.isExpired(at: now)
                || now.nanoseconds(since: message.delivery.message.receivedAt) > retryWindow {
                continue
            }
            // The client's new Receive Maximum applies to redelivery too; the rest waits at the front
            // of the queue.
            guard session.hasWindow else {
                overflow.append(message.delivery)
                continue
            }
            if send(message.delivery, to: session, on: connection, packetID: message.packetID, dup: true, at: now) {
                session.addInflight(message)
            }
        }
        for delivery in overflow.reversed() { session.pending.prepend(delivery) }
        drainPending(session, at: now)
    }
}
