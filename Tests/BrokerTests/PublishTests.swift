@testable import Broker
import MQTTCore
import NIOCore
import Testing

@Suite("PUBLISH, QoS 0 and 1, routing")
struct PublishTests {
    @Test func qos0AndQoS1AreDeliveredAtTheLowerOfBothQoS() throws {
        let h = BrokerHarness()
        let sub0 = h.connect("sub0")
        let sub1 = h.connect("sub1", version: .v3_1_1)
        h.subscribe(sub0, "a/b", qos: .atMostOnce)
        h.subscribe(sub1, "a/+", qos: .atLeastOnce)
        let pub = h.connect("pub")
        let actions = h.publish(pub, "a/b", "hello", qos: .atLeastOnce, packetID: 7)
        #expect(actions.puback(to: pub) == AckPacket(packetID: 7))
        let toSub0 = try #require(actions.publishes(to: sub0).first)
        #expect(toSub0.qos == .atMostOnce && toSub0.packetID == nil && toSub0.payloadString == "hello")
        let toSub1 = try #require(actions.publishes(to: sub1).first)
        #expect(toSub1.qos == .atLeastOnce && toSub1.packetID != nil && toSub1.retain == false)
        let qos0 = h.publish(pub, "a/b", "zero", qos: .atMostOnce)
        #expect(qos0.publishes(to: sub1).first?.qos == .atMostOnce)
        #expect(qos0.puback(to: pub) == nil)
    }

    @Test func overlappingSubscriptionsGiveOneCopyWithEverySubscriptionIdentifier() throws {
        let h = BrokerHarness()
        let sub = h.connect("sub")
        h.subscribe(sub, "a/#", qos: .atMostOnce, identifier: 1, packetID: 1)
        h.subscribe(sub, "a/+", qos: .atLeastOnce, identifier: 2, packetID: 2)
        let pub = h.connect("pub")
        let copies = h.publish(pub, "a/x", "m", qos: .atLeastOnce).publishes(to: sub)
        #expect(copies.count == 1)
        #expect(copies.first?.qos == .atLeastOnce)
        #expect(Set(copies.first?.properties.subscriptionIdentifiers ?? []) == [1, 2])
    }

    @Test func noLocalSkipsThePublishersOwnSession() {
        let h = BrokerHarness()
        let me = h.connect("me")
        h.subscribe(me, "chat", options: SubscriptionOptions(qos: .atMostOnce, noLocal: true))
        let other = h.connect("other")
        h.subscribe(other, "chat", qos: .atMostOnce)
        let actions = h.publish(me, "chat", "hi")
        #expect(actions.publishes(to: me).isEmpty)
        #expect(actions.publishes(to: other).count == 1)
        #expect(h.publish(other, "chat", "yo").publishes(to: me).count == 1)
    }

    @Test func propertiesPassThrough() throws {
        let h = BrokerHarness()
        let sub = h.connect("sub")
        h.subscribe(sub, "req")
        let pub = h.connect("pub")
        let properties = PublishProperties(
            payloadFormat: .utf8, responseTopic: "resp/1", correlationData: ByteBuffer(bytes: [1, 2, 3]),
            userProperties: [UserProperty("a", "1"), UserProperty("a", "2"), UserProperty("b", "3")], contentType: "text/plain")
        let delivered = try #require(h.publish(pub, "req", "body", qos: .atLeastOnce, properties: properties).publishes(to: sub).first)
        #expect(delivered.properties.payloadFormat == .utf8)
        #expect(delivered.properties.responseTopic == "resp/1")
        #expect(delivered.properties.correlationData == ByteBuffer(bytes: [1, 2, 3]))
        #expect(delivered.properties.userProperties == properties.userProperties)
        #expect(delivered.properties.contentType == "text/plain")
    }

    @Test func messageExpiryCountsDownAndExpiredMessagesAreNotDelivered() throws {
        let h = BrokerHarness()
        let sub = h.connect("sub", cleanStart: true, sessionExpiry: 600)
        h.subscribe(sub, "t")
        h.dropConnection(sub)
        let pub = h.connect("pub")
        h.publish(pub, "t", "short", qos: .atLeastOnce, packetID: 1, properties: PublishProperties(messageExpiryInterval: 5))
        h.publish(pub, "t", "long", qos: .atLeastOnce, packetID: 2, properties: PublishProperties(messageExpiryInterval: 100))
        h.advance(seconds: 10)
        let back = h.connect("sub", cleanStart: false, sessionExpiry: 600)
        let delivered = h.allActions.publishes(to: back)
        #expect(delivered.map(\.payloadString) == ["long"])
        #expect(delivered.first?.properties.messageExpiryInterval == 90)
    }

    @Test func qos2PublishIsRefused() {
        let h = BrokerHarness()
        let v5 = h.connect("v5")
        let actions = h.publish(v5, "t", "x", qos: .exactlyOnce)
        #expect(actions.disconnect(to: v5)?.reasonCode == .qosNotSupported)
        #expect(actions.closes(v5))
        let v3 = h.connect("v3", version: .v3_1_1)
        let v3Actions = h.publish(v3, "t", "x", qos: .exactlyOnce)
        #expect(v3Actions.closes(v3) && v3Actions.disconnect(to: v3) == nil)
    }

    @Test func reservedTopicsAreRefused() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "$aws/things/x/shadow/update")
        let v5 = h.connect("v5")
        let actions = h.publish(v5, "$aws/things/x/shadow/update", "{}", qos: .atLeastOnce)
        #expect(actions.puback(to: v5)?.reasonCode == .notAuthorized)
        #expect(actions.publishes(to: watcher).isEmpty)
        #expect(!actions.closes(v5))
        #expect(actions.logs.contains { $0.eventType == .publishIn && $0.status == .failure && $0.reason == "AUTHORIZATION_FAILURE" })
        #expect(h.publish(v5, "$SYS/x", "y").publishes(to: watcher).isEmpty)
        let v3 = h.connect("v3", version: .v3_1_1)
        #expect(h.publish(v3, "$aws/events/presence/connected/v3", "{}", qos: .atLeastOnce).closes(v3))
    }

    @Test func rulesGetWhatTheyAskForAndBasicIngestGoesToRulesOnly() throws {
        func ruleMessages(_ actions: [BrokerAction]) -> [RuleMessage] {
            actions.compactMap { if case .ruleMessage(let message) = $0 { message } else { nil } }
        }
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "#")
        h.subscribe(watcher, "$aws/rules/#")
        let device = h.connect("device")
        #expect(ruleMessages(h.publish(device, "a/b", "{}", qos: .atLeastOnce)).isEmpty, "no rules: nothing for them")
        h.broker.rulesWant = { $0.hasPrefix("a/") }
        let wanted = ruleMessages(h.publish(device, "a/b", "{}", qos: .atLeastOnce))
        #expect(wanted.map(\.publish.topic) == ["a/b"] && wanted.first?.clientID == "device" && wanted.first?.depth == 0)
        #expect(ruleMessages(h.publish(device, "c/d", "{}")).isEmpty)
        // Basic Ingest: acknowledged, handed to rules, never delivered nor retained; its prefix does not count
        // toward the seven-slash limit.
        let ingest = h.publish(device, "$aws/rules/r/1/2/3/4/5/6/7", "{}", qos: .atLeastOnce, retain: true)
        #expect(ingest.puback(to: device)?.reasonCode == .success)
        #expect(ruleMessages(ingest).map(\.publish.topic) == ["$aws/rules/r/1/2/3/4/5/6/7"])
        #expect(ingest.publishes(to: watcher).isEmpty)
        #expect(h.broker.retainedMessageCount == 0)
        // A rule's republish routes and goes back to rules below the depth limit only.
        let again = h.record(h.broker.publishFromRule(PublishPacket(topic: "a/x", payload: ByteBuffer(string: "1")), depth: 0, at: h.now).actions)
        #expect(again.publishes(to: watcher).map(\.topic) == ["a/x"] && ruleMessages(again).map(\.depth) == [1])
        let last = h.record(h.broker.publishFromRule(PublishPacket(topic: "a/x", payload: ByteBuffer(string: "1")), depth: Broker.maximumRuleDepth, at: h.now).actions)
        #expect(last.publishes(to: watcher).count == 1 && ruleMessages(last).isEmpty)
        #expect(h.broker.publishFromRule(PublishPacket(topic: "a/+", payload: ByteBuffer(string: "1")), depth: 0, at: h.now).refusal != nil)
        // A rule's Basic Ingest republish reaches rules only.
        let ingest2 = h.record(h.broker.publishFromRule(PublishPacket(topic: "$aws/rules/r/x", payload: ByteBuffer(string: "1")), depth: 0, at: h.now).actions)
        #expect(ingest2.publishes(to: watcher).isEmpty && ruleMessages(ingest2).map(\.depth) == [1])
        // Events the broker makes go to rules too (a presence event here).
        let presence = ruleMessages(h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "late"))))
        #expect(presence.isEmpty, "a/ rules do not take presence events")
        h.broker.rulesWant = { $0.hasPrefix("$aws/events/presence/") }
        #expect(ruleMessages(h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "later")))).map(\.publish.topic)
            == ["$aws/events/presence/connected/later"])
    }

    /// A rule that republishes to a service (a shadow update) and takes the service's answers cannot loop
    /// forever: the request carries its depth, and the answers go to rules at that depth, below the limit.
    @Test func aLoopThroughAServiceIsBoundedByTheRuleDepth() {
        let h = BrokerHarness(isServiceRequest: { $0.hasPrefix("$aws/things/") && $0.hasSuffix("/shadow/update") })
        h.broker.rulesWant = { $0.hasPrefix("$aws/things/") }
        let asked = h.record(h.broker.publishFromRule(PublishPacket(topic: "$aws/things/t/shadow/update", payload: ByteBuffer(string: "{}")),
                                                      depth: 3, at: h.now).actions)
        let requests = asked.compactMap { if case .serviceRequest(let request) = $0 { request } else { nil } }
        #expect(requests.map(\.ruleDepth) == [4] && requests.first?.principalID == "rules")
        func ruleDepths(_ actions: [BrokerAction]) -> [Int] {
            actions.compactMap { if case .ruleMessage(let message) = $0 { message.depth } else { nil } }
        }
        let answer = h.record(h.broker.publishServiceEvent(topic: "$aws/things/t/shadow/update/documents", payload: "{}", ruleDepth: 4, at: h.now))
        #expect(ruleDepths(answer) == [4], "the service's answer keeps the request's depth")
        let client = h.record(h.broker.publishServiceEvent(topic: "$aws/things/t/shadow/update/accepted", payload: "{}", at: h.now))
        #expect(ruleDepths(client) == [0], "an answer to a client's request starts at 0")
        let deepest = h.record(h.broker.publishServiceEvent(topic: "$aws/things/t/shadow/update/documents", payload: "{}",
                                                            ruleDepth: Broker.maximumRuleDepth, at: h.now))
        #expect(ruleDepths(deepest).isEmpty, "at the limit the answer reaches subscribers only")
    }

    @Test(arguments: [
        (String(repeating: "a", count: 257), "longer than 256"),
        ("a/b/c/d/e/f/g/h/i", "more than 7"),
    ])
    func topicNamesOverAWSLimitsAreRefusedWithPubAck(topic: String, problem: String) {
        let h = BrokerHarness()
        let v5 = h.connect("v5")
        let ack = h.publish(v5, topic, "x", qos: .atLeastOnce).puback(to: v5)
        #expect(ack?.reasonCode == .topicNameInvalid)
        #expect(ack?.properties.reasonString?.contains(problem) == true)
        let v3 = h.connect("v3", version: .v3_1_1)
        #expect(h.publish(v3, topic, "x").closes(v3))
    }

    /// [MQTT-3.3.2-2]: a wildcard makes the PUBLISH malformed, and a control character is refused the same
    /// way: there is no message to acknowledge, so MQTT 5 hears DISCONNECT 0x90 (not a PUBACK) and both
    /// versions are closed, at QoS 0 too. Nothing reaches a subscriber.
    @Test(arguments: [
        ("a/+/b", "must not contain"), ("a/#", "must not contain"), ("+", "must not contain"),
        ("a/\u{7}", "control characters"), ("a\u{85}b", "control characters"),
    ], [QoS.atMostOnce, .atLeastOnce])
    func malformedTopicNamesCloseTheConnection(_ topicAndProblem: (String, String), qos: QoS) throws {
        let (topic, problem) = topicAndProblem
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "#")
        let v5 = h.connect("v5")
        let actions = h.publish(v5, topic, "x", qos: qos)
        #expect(actions.puback(to: v5) == nil)
        let disconnect = try #require(actions.disconnect(to: v5))
        #expect(disconnect.reasonCode == .topicNameInvalid)
        #expect(disconnect.properties.reasonString?.contains(problem) == true)
        #expect(actions.closes(v5))
        #expect(actions.logs.contains { $0.eventType == .publishIn && $0.status == .failure && $0.reason == "TOPIC_NAME_INVALID" && $0.topicName == topic })
        #expect(actions.publishes(to: watcher).isEmpty)
        let v3 = h.connect("v3", version: .v3_1_1)
        let v3Actions = h.publish(v3, topic, "x", qos: qos)
        #expect(v3Actions.closes(v3) && v3Actions.packets(to: v3).isEmpty)
        #expect(v3Actions.publishes(to: watcher).isEmpty)
    }

    /// Neither spec makes a PUBACK for an unknown packet id an error, and AWS may re-send a message under a
    /// new id, so a late PUBACK is ignored: the connection stays and the message in flight stays in flight.
    @Test(arguments: [ProtocolVersion.v5, .v3_1_1])
    func pubAckForAnUnknownPacketIDIsIgnored(version: ProtocolVersion) throws {
        let h = BrokerHarness()
        let sub = h.connect("sub", version: version, receiveMaximum: version == .v5 ? 1 : nil)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        let first = try #require(h.publish(pub, "t", "one", qos: .atLeastOnce).publishes(to: sub).first?.packetID)
        let ignored = h.send(sub, .puback(AckPacket(packetID: first &+ 1000)))
        #expect(ignored.isEmpty)
        // Still unacknowledged: with a window of one (MQTT 5) the next message waits for the real PUBACK.
        let second = h.publish(pub, "t", "two", qos: .atLeastOnce, packetID: 2)
        if version == .v5 {
            #expect(second.publishes(to: sub).isEmpty)
            #expect(h.send(sub, .puback(AckPacket(packetID: first))).publishes(to: sub).map(\.payloadString) == ["two"])
        } else {
            #expect(second.publishes(to: sub).map(\.payloadString) == ["two"])
        }
        #expect(!h.allActions.closes(sub))
        #expect(h.send(sub, .pingreq).packets(to: sub) == [.pingresp])
    }

    @Test func topicsAtTheLimitsAreAccepted() {
        let h = BrokerHarness()
        let sub = h.connect("sub")
        let long = String(repeating: "a", count: 256)
        let deep = "a/b/c/d/e/f/g/h"
        h.subscribe(sub, deep, packetID: 1)
        h.subscribe(sub, long, packetID: 2)
        let pub = h.connect("pub")
        #expect(h.publish(pub, deep, "x", qos: .atLeastOnce).publishes(to: sub).count == 1)
        #expect(h.publish(pub, long, "x", qos: .atLeastOnce).publishes(to: sub).count == 1)
    }

    @Test func payloadOverTheLimitIsRefusedWithPacketTooLarge() {
        var limits = BrokerLimits()
        limits.maximumPayloadSize = 10
        let h = BrokerHarness(limits: limits)
        let id = h.connect("v5")
        #expect(h.publish(id, "t", String(repeating: "x", count: 10)).isEmpty == false)
        let actions = h.publish(id, "t", String(repeating: "x", count: 11))
        #expect(actions.disconnect(to: id)?.reasonCode == .packetTooLarge)
        #expect(actions.closes(id))
    }

    @Test func utf8PayloadFormatIsChecked() {
        let h = BrokerHarness()
        let id = h.connect("v5")
        var publish = PublishPacket(topic: "t", payload: ByteBuffer(bytes: [0xFF, 0xFE]), qos: .atLeastOnce, packetID: 3)
        publish.properties.payloadFormat = .utf8
        #expect(h.send(id, .publish(publish)).puback(to: id)?.reasonCode == .payloadFormatInvalid)
        publish.payload = ByteBuffer(string: "ok ✓")
        #expect(h.send(id, .publish(publish)).puback(to: id)?.reasonCode == .success)
    }

    @Test func clientMayNotSendSubscriptionIdentifiers() {
        let h = BrokerHarness()
        let id = h.connect("v5")
        let actions = h.publish(id, "t", "x", properties: PublishProperties(subscriptionIdentifiers: [4]))
        #expect(actions.disconnect(to: id)?.reasonCode == .protocolError)
    }

    @Test func topicAliasesMapAndResolve() throws {
        let h = BrokerHarness()
        let sub = h.connect("sub")
        h.subscribe(sub, "long/topic/name")
        let pub = h.connect("pub")
        let first = h.publish(pub, "long/topic/name", "one", properties: PublishProperties(topicAlias: 3))
        #expect(first.publishes(to: sub).first?.properties.topicAlias == nil, "aliases are per connection, never forwarded")
        let second = h.publish(pub, "", "two", properties: PublishProperties(topicAlias: 3))
        let delivered = try #require(second.publishes(to: sub).first)
        #expect(delivered.topic == "long/topic/name" && delivered.payloadString == "two")
    }

    @Test func unmappedOrTooLargeTopicAliasesAreProtocolErrors() {
        let h = BrokerHarness()
        let a = h.connect("a")
        #expect(h.publish(a, "", "x", properties: PublishProperties(topicAlias: 2)).disconnect(to: a)?.reasonCode == .protocolError)
        let b = h.connect("b")
        #expect(h.publish(b, "t", "x", properties: PublishProperties(topicAlias: 9)).disconnect(to: b)?.reasonCode == .topicAliasInvalid)
    }

    @Test func inflightWindowFollowsReceiveMaximumAndQueuesTheRest() throws {
        let h = BrokerHarness()
        let sub = h.connect("sub", receiveMaximum: 2)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        var delivered: [PublishPacket] = []
        for i in 1...5 {
            delivered += h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)).publishes(to: sub)
        }
        #expect(delivered.map(\.payloadString) == ["m1", "m2"])
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 3)
        let next = h.send(sub, .puback(AckPacket(packetID: delivered[0].packetID!))).publishes(to: sub)
        #expect(next.map(\.payloadString) == ["m3"])
        #expect(next.first?.packetID != delivered[1].packetID, "a packet id in use is never reused")
        // An unknown packet id is ignored.
        #expect(h.send(sub, .puback(AckPacket(packetID: 999))).isEmpty)
    }

    @Test func persistentSessionRedeliversUnacknowledgedMessagesWithTheirPacketIDs() throws {
        for version in [ProtocolVersion.v3_1_1, .v5] {
            let h = BrokerHarness()
            let sub = h.connect("sub", version: version, cleanStart: true, sessionExpiry: version == .v5 ? 300 : nil)
            if version == .v3_1_1 {
                // 3.1.1 persistence comes from cleanSession=0.
                h.dropConnection(sub)
            }
            let s = version == .v3_1_1 ? h.connect("sub", version: version, cleanStart: false) : sub
            h.subscribe(s, "t")
            let pub = h.connect("pub")
            let first = try #require(h.publish(pub, "t", "one", qos: .atLeastOnce).publishes(to: s).first)
            h.dropConnection(s)
            h.publish(pub, "t", "two", qos: .atLeastOnce)
            h.publish(pub, "t", "zero", qos: .atMostOnce)
            let back = h.open()
            let actions = h.send(back, .connect(ConnectPacket(protocolVersion: version, cleanStart: false, clientID: "sub",
                properties: MQTTProperties(sessionExpiryInterval: version == .v5 ? 300 : nil))))
            #expect(actions.connack(to: back)?.sessionPresent == true)
            let redelivered = actions.publishes(to: back)
            #expect(redelivered.map(\.payloadString) == ["one", "two"], "QoS 0 is not queued for offline sessions")
            #expect(redelivered.first?.packetID == first.packetID)
            #expect(redelivered.first?.dup == true)
        }
    }

    @Test func cleanStartDiscardsTheSession() {
        let h = BrokerHarness()
        let sub = h.connect("sub", sessionExpiry: 300)
        h.subscribe(sub, "t")
        h.dropConnection(sub)
        let pub = h.connect("pub")
        h.publish(pub, "t", "queued", qos: .atLeastOnce)
        let back = h.open()
        let actions = h.send(back, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, clientID: "sub",
                                                          properties: MQTTProperties(sessionExpiryInterval: 300))))
        #expect(actions.connack(to: back)?.sessionPresent == false)
        #expect(actions.publishes(to: back).isEmpty)
        #expect(h.publish(pub, "t", "after").publishes(to: back).isEmpty, "subscriptions went with the session")
    }

    @Test func persistentSessionsDoNotCrossProtocolVersions() {
        let h = BrokerHarness()
        let sub = h.connect("sub", version: .v3_1_1, cleanStart: false)
        h.subscribe(sub, "t")
        h.dropConnection(sub)
        let back = h.open()
        let actions = h.send(back, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "sub",
                                                          properties: MQTTProperties(sessionExpiryInterval: 60))))
        #expect(actions.connack(to: back)?.sessionPresent == false)
    }

    @Test func offlineQueueIsBoundedAndDropsNewMessages() {
        var limits = BrokerLimits()
        limits.maximumQueuedMessages = 3
        let h = BrokerHarness(limits: limits)
        let sub = h.connect("sub", sessionExpiry: 300)
        h.subscribe(sub, "t")
        h.dropConnection(sub)
        let pub = h.connect("pub")
        var drops: [IoTLogEvent] = []
        for i in 1...5 { drops += h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)).logs.filter { $0.reason == "QUEUE_FULL" } }
        #expect(drops.count == 1, "logged once when the queue fills, not per dropped message")
        let back = h.open()
        let actions = h.send(back, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "sub",
                                                          properties: MQTTProperties(sessionExpiryInterval: 300))))
        #expect(actions.publishes(to: back).map(\.payloadString) == ["m1", "m2", "m3"])
        let summary = actions.logs.first { $0.reason == "QUEUE_FULL" }
        #expect(summary?.details?.contains("2 messages were dropped") == true)
    }

    @Test func redeliveryOnReconnectRespectsTheNewReceiveMaximum() {
        let h = BrokerHarness()
        let sub = h.connect("sub", sessionExpiry: 300, receiveMaximum: 5)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        for i in 1...5 { h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)) }
        #expect(h.broker.session(clientID: "sub")?.inflightCount == 5)
        h.dropConnection(sub)
        let back = h.open()
        let actions = h.send(back, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "sub",
                                                          properties: MQTTProperties(sessionExpiryInterval: 300, receiveMaximum: 2))))
        let resent = actions.publishes(to: back)
        #expect(resent.map(\.payloadString) == ["m1", "m2"])
        #expect(resent.allSatisfy { $0.dup })
        var rest: [String] = []
        for publish in resent {
            rest += h.send(back, .puback(AckPacket(packetID: publish.packetID!))).publishes(to: back).map(\.payloadString)
        }
        #expect(rest == ["m3", "m4"], "the rest follows in order as the window opens")
    }

    @Test func assignedClientIDsNeverCollideWithChosenOnes() throws {
        let h = BrokerHarness()
        let squatter = h.connect("auto-1", sessionExpiry: 300)
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "")))
        let connack = try #require(actions.connack(to: id))
        #expect(connack.properties.assignedClientIdentifier == "auto-2")
        #expect(connack.sessionPresent == false)
        #expect(!actions.closes(squatter), "the existing client is not taken over")
    }

    @Test func responseTopicMustNotContainWildcards() {
        let h = BrokerHarness()
        let id = h.connect("a")
        let actions = h.publish(id, "t", "x", properties: PublishProperties(responseTopic: "reply/#"))
        #expect(actions.disconnect(to: id)?.reasonCode == .protocolError)
        let will = h.open()
        let refused = h.send(will, .connect(ConnectPacket(protocolVersion: .v5, clientID: "w",
            will: Will(topic: "wills/w", payload: ByteBuffer(string: "x"), properties: PublishProperties(responseTopic: "+")))))
        #expect(refused.connack(to: will)?.reasonCode == .protocolError)
    }

    @Test func emptyTopicWithoutAliasIsAProtocolError() {
        let h = BrokerHarness()
        let id = h.connect("a")
        #expect(h.publish(id, "", "x").disconnect(to: id)?.reasonCode == .protocolError)
    }

    @Test func bandwidthCountsTheWholePacket() {
        var limits = BrokerLimits()
        limits.bytesPerSecond = 1000
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        let heavy = PublishProperties(userProperties: [UserProperty("k", String(repeating: "v", count: 3000))])
        let actions = h.publish(pub, "t", "", properties: heavy)
        #expect(actions.contains { if case .pauseReading(pub, _) = $0 { true } else { false } })
    }

    @Test func messagesLargerThanTheClientsMaximumPacketSizeAreNotSent() {
        let h = BrokerHarness()
        let sub = h.connect("sub", maximumPacketSize: 64)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        let big = h.publish(pub, "t", String(repeating: "x", count: 100), qos: .atLeastOnce)
        #expect(big.publishes(to: sub).isEmpty)
        #expect(h.broker.session(clientID: "sub")?.inflightCount == 0, "treated as sent: nothing waits for an ack")
        #expect(h.publish(pub, "t", "small", qos: .atLeastOnce).publishes(to: sub).count == 1)
    }

    @Test func publishRateLimitPausesReadingInsteadOfDropping() throws {
        var limits = BrokerLimits()
        limits.publishesPerSecond = 2
        let h = BrokerHarness(limits: limits)
        let sub = h.connect("sub")
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        var pauses: [BrokerInstant] = []
        var delivered = 0
        for i in 1...4 {
            let actions = h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i))
            delivered += actions.publishes(to: sub).count
            pauses += actions.compactMap { if case .pauseReading(pub, let until) = $0 { until } else { nil } }
        }
        #expect(delivered == 4, "nothing that was read is dropped")
        let until = try #require(pauses.last)
        #expect(until.nanoseconds(since: h.now) >= 900_000_000)
        let throttled = h.allActions.logs.filter { $0.reason == "THROTTLED" }
        #expect(throttled.count == 1, "one log line per pause, not per packet")
        #expect(throttled.first?.level == .warn)
    }

    @Test func exceedingTheAnnouncedReceiveMaximumIsAProtocolViolation() {
        let h = BrokerHarness()
        let v5 = h.connect("v5")
        let actions = h.record(h.broker.receiveMaximumExceeded(on: v5, at: h.now))
        #expect(actions.disconnect(to: v5)?.reasonCode == .receiveMaximumExceeded)
        #expect(actions.closes(v5))
        let v3 = h.connect("v3", version: .v3_1_1)
        let v3Actions = h.record(h.broker.receiveMaximumExceeded(on: v3, at: h.now))
        #expect(v3Actions.closes(v3) && v3Actions.disconnect(to: v3) == nil)
    }

    @Test func aPauseIsNotCountedAsKeepAliveInactivity() {
        var limits = BrokerLimits()
        limits.publishesPerSecond = 1
        limits.minimumKeepAlive = 1
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub", keepAlive: 2)
        for i in 1...6 { h.publish(pub, "t", "m\(i)") }
        // Five seconds of debt: the server stops reading for that long. Keep alive (3 s) runs from the end.
        h.advance(seconds: 4)
        #expect(!h.tick().closes(pub))
        h.advance(seconds: 3.5)
        #expect(!h.tick().closes(pub))
        h.advance(seconds: 1)
        #expect(h.tick().closes(pub), "after the pause, silence counts again")
    }

    @Test func bandwidthLimitPausesReading() {
        var limits = BrokerLimits()
        limits.bytesPerSecond = 100
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        let actions = h.publish(pub, "t", String(repeating: "x", count: 300))
        #expect(actions.contains { if case .pauseReading(pub, _) = $0 { true } else { false } })
    }
}

@Suite("Back pressure")
struct BackPressureTests {
    func harness(queued: Int = 4) -> BrokerHarness {
        var limits = BrokerLimits()
        limits.maximumQueuedMessages = queued
        return BrokerHarness(limits: limits)
    }

    func pauses(_ actions: [BrokerAction], _ id: ConnectionID) -> Int {
        actions.filter { if case .pauseReading(id, _) = $0 { true } else { false } }.count
    }

    func resumes(_ actions: [BrokerAction], _ id: ConnectionID) -> Bool {
        actions.contains { if case .resumeReading(id) = $0 { true } else { false } }
    }

    @Test func aSlowSubscriberHoldsItsPublisherBackInsteadOfLosingQoS1() throws {
        let h = harness()
        let sub = h.connect("sub", receiveMaximum: 1)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        var delivered: [PublishPacket] = []
        var paused = 0
        for i in 1...3 {
            let actions = h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i))
            delivered += actions.publishes(to: sub)
            paused += pauses(actions, pub)
        }
        #expect(delivered.count == 1, "window of one")
        #expect(paused == 1, "the queue reached half its size: the publisher is held back once")
        // The subscriber acknowledges: its queue drains to a quarter and the publisher is released.
        let ack = h.send(sub, .puback(AckPacket(packetID: delivered[0].packetID!)))
        #expect(ack.publishes(to: sub).count == 1)
        #expect(resumes(ack, pub))
        #expect(h.allActions.logs.allSatisfy { $0.reason != "QUEUE_FULL" }, "nothing dropped")
    }

    func resumed(_ actions: [BrokerAction]) -> [ConnectionID] {
        actions.compactMap { if case .resumeReading(let id) = $0 { id } else { nil } }
    }

    /// Ten publishers into one subscriber with a window of one, queue limit 8 (held from 4, released at 2).
    func manyPublishers(_ h: BrokerHarness, keepAlive: UInt16 = 60) -> (sub: ConnectionID, pubs: [ConnectionID], first: PublishPacket?) {
        let sub = h.connect("sub", receiveMaximum: 1)
        h.subscribe(sub, "t")
        let pubs = (1...10).map { h.connect("pub\($0)", keepAlive: keepAlive) }
        var first: PublishPacket?
        for (i, pub) in pubs.enumerated() {
            let actions = h.publish(pub, "t", "m\(i + 1)", qos: .atLeastOnce, packetID: 1)
            first = first ?? actions.publishes(to: sub).first
        }
        return (sub, pubs, first)
    }

    @Test func heldPublishersAreReleasedOneAtATimeOldestFirst() throws {
        let h = harness(queued: 8)
        let (sub, pubs, first) = manyPublishers(h)
        // m1 is in flight; m2...m10 queued. The queue reached 4 with pub5's message: pub5...pub10 are held.
        for pub in pubs[4...] { #expect(pauses(h.allActions, pub) == 1) }
        for pub in pubs[..<4] { #expect(pauses(h.allActions, pub) == 0) }
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 9, "room for what held publishers had already sent")
        var packetID = try #require(first?.packetID)
        var released: [ConnectionID] = []
        var received = 1
        for _ in 1...9 {
            let ack = h.send(sub, .puback(AckPacket(packetID: packetID)))
            let next = ack.publishes(to: sub)
            #expect(next.count == 1)
            received += next.count
            packetID = try #require(next.first?.packetID)
            let now = resumed(ack)
            #expect(now.count <= 1, "one publisher per message that left the queue")
            if (h.broker.session(clientID: "sub")?.queuedCount ?? 0) > 2 { #expect(now.isEmpty, "nobody before the queue is at a quarter") }
            released += now
        }
        #expect(received == 10)
        #expect(released == Array(pubs[4..<7]), "oldest first")
        #expect(h.allActions.logs.allSatisfy { $0.reason != "QUEUE_FULL" }, "nothing dropped")
        // The queue is empty now: each acknowledgement lets one more go.
        let last = h.send(sub, .puback(AckPacket(packetID: packetID)))
        #expect(resumed(last) == [pubs[7]])
    }

    @Test func pausesAreExtendedWhileTheSubscriberDrains() throws {
        let h = harness(queued: 8)
        let (sub, pubs, first) = manyPublishers(h)
        h.advance(seconds: 0.6)
        let ack = h.send(sub, .puback(AckPacket(packetID: try #require(first?.packetID))))
        for pub in pubs[4...] {
            let until = ack.compactMap { if case .pauseReading(pub, let until) = $0 { until } else { nil } }
            #expect(until == [h.now.adding(seconds: 1)], "held for another timeout from now")
        }
    }

    @Test func aSubscriberThatStopsAcknowledgingHoldsNobodyPastTheTimeout() throws {
        let h = harness(queued: 8)
        let (_, pubs, _) = manyPublishers(h)
        // No acknowledgement: nobody's pause is extended, and pauses end after the timeout on their own.
        h.advance(seconds: 1.5)
        let tick = h.tick()
        #expect(tick.allSatisfy { if case .pauseReading = $0 { false } else { true } })
        // A held publisher sends again once its pause ended: held again, its message still queued.
        let again = h.publish(pubs[9], "t", "again", qos: .atLeastOnce, packetID: 2)
        #expect(pauses(again, pubs[9]) == 1)
        #expect(again.puback(to: pubs[9])?.reasonCode == .success)
    }

    @Test func nobodyIsHeldPastHalfItsKeepAlive() throws {
        let h = harness(queued: 8)
        let (sub, pubs, first) = manyPublishers(h, keepAlive: 30)
        var packetID = try #require(first?.packetID)
        var extendedAt: [Double] = []
        for step in 1...40 {
            // The subscriber acknowledges every 0.6 s but nothing it receives frees the queue below a quarter.
            h.advance(seconds: 0.6)
            let ack = h.send(sub, .puback(AckPacket(packetID: packetID)))
            if ack.contains(where: { if case .pauseReading(pubs[9], _) = $0 { true } else { false } }) {
                extendedAt.append(Double(step) * 0.6)
            }
            if let next = ack.publishes(to: sub).first?.packetID { packetID = next }
            // Keep the queue full: a publisher that is not held sends again.
            h.publish(pubs[0], "t", "more\(step)", qos: .atLeastOnce, packetID: UInt16(step + 1))
        }
        let lastExtension = try #require(extendedAt.last)
        #expect(lastExtension + 1 <= 15.0 + 0.6, "held for at most half of its 30 s keep alive")
        #expect(lastExtension > 10, "extended while the subscriber made progress")
    }

    @Test func beyondTheAllowanceMessagesAreDropped() {
        let h = harness()
        let sub = h.connect("sub", receiveMaximum: 1)
        h.subscribe(sub, "t")
        let pubs = (1...12).map { h.connect("pub\($0)") }
        for pub in pubs { h.publish(pub, "t", "m", qos: .atLeastOnce, packetID: 1) }
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 8, "twice the limit while publishers are held")
        #expect(h.allActions.logs.contains { $0.reason == "QUEUE_FULL" })
    }

    @Test func offlineSessionsHoldNobodyBack() {
        let h = harness()
        let sub = h.connect("sub", sessionExpiry: 300)
        h.subscribe(sub, "t")
        h.dropConnection(sub)
        let pub = h.connect("pub")
        var paused = 0
        for i in 1...6 { paused += pauses(h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)), pub) }
        #expect(paused == 0)
        #expect(h.broker.session(clientID: "sub")?.queuedCount == 4, "the queue limit applies instead")
    }

    @Test func aSubscriberThatDisconnectsReleasesItsPublishers() {
        let h = harness()
        let sub = h.connect("sub", sessionExpiry: 300, receiveMaximum: 1)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        for i in 1...3 { h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)) }
        #expect(resumes(h.dropConnection(sub), pub))
    }

    @Test func backPressureCanBeDisabled() {
        var limits = BrokerLimits()
        limits.maximumQueuedMessages = 4
        limits.backPressureTimeoutMilliseconds = 0
        let h = BrokerHarness(limits: limits)
        let sub = h.connect("sub", receiveMaximum: 1)
        h.subscribe(sub, "t")
        let pub = h.connect("pub")
        var paused = 0
        for i in 1...8 { paused += pauses(h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)), pub) }
        #expect(paused == 0)
        #expect(h.allActions.logs.contains { $0.reason == "QUEUE_FULL" })
    }
}
