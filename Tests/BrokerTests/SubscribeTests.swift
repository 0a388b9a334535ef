@testable import Broker
import MQTTCore
import NIOCore
import Testing

@Suite("SUBSCRIBE, UNSUBSCRIBE, shared subscriptions, limits")
struct SubscribeTests {
    @Test func qos2RequestIsGrantedQoS1() throws {
        let h = BrokerHarness()
        let id = h.connect("a")
        let suback = try #require(h.subscribe(id, "t", qos: .exactlyOnce).suback(to: id))
        #expect(suback.reasonCodes == [.grantedQoS1])
    }

    @Test func invalidFiltersGetTopicFilterInvalidPerFilter() throws {
        let h = BrokerHarness()
        let id = h.connect("a")
        let filters = ["ok/+", "bad#", "a/+b", "$share/g", "$share//x", String(repeating: "x", count: 257), "a/b/c/d/e/f/g/h/i", "fine/#"]
        let actions = h.send(id, .subscribe(SubscribePacket(packetID: 5, subscriptions: filters.map { TopicSubscription($0, qos: .atMostOnce) })))
        let suback = try #require(actions.suback(to: id))
        #expect(suback.reasonCodes == [.grantedQoS0, .topicFilterInvalid, .topicFilterInvalid, .topicFilterInvalid,
                                      .topicFilterInvalid, .topicFilterInvalid, .topicFilterInvalid, .grantedQoS0])
        #expect(suback.packetID == 5)
    }

    @Test func moreThanEightFiltersRefusesTheWholePacket() throws {
        let h = BrokerHarness()
        let id = h.connect("a")
        let filters = (1...9).map { TopicSubscription("t/\($0)", qos: .atMostOnce) }
        let suback = try #require(h.send(id, .subscribe(SubscribePacket(packetID: 1, subscriptions: filters))).suback(to: id))
        #expect(suback.reasonCodes == Array(repeating: .quotaExceeded, count: 9))
        #expect(h.broker.subscriptionCount == 0)
    }

    @Test func subscriptionsPerConnectionAreLimited() throws {
        var limits = BrokerLimits()
        limits.maximumSubscriptionsPerConnection = 2
        let h = BrokerHarness(limits: limits)
        let id = h.connect("a")
        let filters = ["a", "b", "c"].map { TopicSubscription($0, qos: .atMostOnce) }
        let suback = try #require(h.send(id, .subscribe(SubscribePacket(packetID: 1, subscriptions: filters))).suback(to: id))
        #expect(suback.reasonCodes == [.grantedQoS0, .grantedQoS0, .quotaExceeded])
        // Re-subscribing to an existing filter replaces it and does not count.
        #expect(h.subscribe(id, "a", qos: .atLeastOnce).suback(to: id)?.reasonCodes == [.grantedQoS1])
    }

    @Test func unsubscribeAnswersPerFilter() throws {
        let h = BrokerHarness()
        let id = h.connect("a")
        h.subscribe(id, "t")
        h.subscribe(id, "$share/g/s", packetID: 2)
        let actions = h.send(id, .unsubscribe(UnsubscribePacket(packetID: 9, filters: ["t", "never", "bad#", "$share/g/s"])))
        let unsuback = try #require(actions.packets(to: id).compactMap { if case .unsuback(let u) = $0 { u } else { nil } }.first)
        #expect(unsuback.packetID == 9)
        #expect(unsuback.reasonCodes == [.success, .noSubscriptionExisted, .topicFilterInvalid, .success])
        #expect(h.broker.subscriptionCount == 0)
        let pub = h.connect("pub")
        #expect(h.publish(pub, "t", "x").publishes(to: id).isEmpty)
    }

    @Test func sharedSubscriptionSplitsMessagesAcrossMembers() {
        for version in [ProtocolVersion.v3_1_1, .v5] {
            let h = BrokerHarness()
            let a = h.connect("a", version: version)
            let b = h.connect("b", version: version)
            h.subscribe(a, "$share/workers/jobs/+")
            h.subscribe(b, "$share/workers/jobs/+")
            let plain = h.connect("plain")
            h.subscribe(plain, "jobs/#")
            let pub = h.connect("pub")
            var toA = 0, toB = 0, toPlain = 0
            for i in 1...10 {
                let actions = h.publish(pub, "jobs/\(i)", "j", qos: .atLeastOnce, packetID: UInt16(i))
                toA += actions.publishes(to: a).count
                toB += actions.publishes(to: b).count
                toPlain += actions.publishes(to: plain).count
            }
            #expect(toA + toB == 10, "each message to exactly one member")
            #expect(toA == 5 && toB == 5, "round robin")
            #expect(toPlain == 10, "ordinary subscribers still get every message")
        }
    }

    @Test func sharedGroupSkipsOfflineMembersAndQueuesForPersistentOnes() {
        let h = BrokerHarness()
        let online = h.connect("online")
        let offline = h.connect("offline", sessionExpiry: 300)
        h.subscribe(online, "$share/g/t")
        h.subscribe(offline, "$share/g/t")
        h.dropConnection(offline)
        let pub = h.connect("pub")
        for i in 1...4 { #expect(h.publish(pub, "t", "m\(i)", qos: .atLeastOnce, packetID: UInt16(i)).publishes(to: online).count == 1) }
        h.dropConnection(online)
        h.publish(pub, "t", "queued", qos: .atLeastOnce, packetID: 9)
        #expect(h.broker.session(clientID: "offline")?.queuedCount == 1)
        h.publish(pub, "t", "qos0 is dropped when no member is online")
        #expect(h.broker.session(clientID: "offline")?.queuedCount == 1)
    }

    @Test func noLocalOnASharedSubscriptionIsAProtocolError() {
        let h = BrokerHarness()
        let id = h.connect("a")
        let actions = h.subscribe(id, "$share/g/t", options: SubscriptionOptions(noLocal: true))
        #expect(actions.disconnect(to: id)?.reasonCode == .protocolError)
    }

    @Test func subscribeAndUnsubscribeAreLogged() {
        let h = BrokerHarness()
        let id = h.connect("a")
        #expect(h.subscribe(id, "t").logs.contains { $0.eventType == .subscribe && $0.status == .success && $0.topicName == "t" })
        let unsubscribe = h.send(id, .unsubscribe(UnsubscribePacket(packetID: 2, filters: ["t"])))
        #expect(unsubscribe.logs.contains { $0.eventType == .unsubscribe && $0.topicName == "t" })
        #expect(h.subscribe(id, "bad#").logs.contains { $0.eventType == .subscribe && $0.status == .failure })
    }

    @Test func dollarTopicsAreNotMatchedByLeadingWildcards() {
        let h = BrokerHarness()
        let all = h.connect("all")
        h.subscribe(all, "#")
        let plus = h.connect("plus")
        h.subscribe(plus, "+/events/presence/connected/+")
        let explicit = h.connect("explicit")
        h.subscribe(explicit, "$aws/events/presence/connected/+")
        let actions = h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "dev")))
        #expect(actions.publishes(to: all).isEmpty)
        #expect(actions.publishes(to: plus).isEmpty)
        #expect(actions.publishes(to: explicit).count == 1)
    }
}

@Suite("Lifecycle events")
struct LifecycleEventTests {
    @Test func presenceEventsCarryAWSFields() throws {
        let h = BrokerHarness()
        let monitor = h.connect("monitor")
        h.subscribe(monitor, "$aws/events/presence/+/+")
        let id = h.open(principal: "abc123")
        let connected = try #require(h.send(id, .connect(ConnectPacket(protocolVersion: .v3_1_1, clientID: "dev"))).publishes(to: monitor).first)
        #expect(connected.topic == "$aws/events/presence/connected/dev")
        let json = try #require(try JSONSerializationLite.object(connected.payloadString))
        #expect(json["clientId"] as? String == "dev")
        #expect(json["eventType"] as? String == "connected")
        #expect(json["principalIdentifier"] as? String == "abc123")
        #expect(json["ipAddress"] as? String == "127.0.0.1")
        #expect(json["sessionIdentifier"] as? String == "session-\(id.rawValue)")
        #expect(json["timestamp"] as? Int == Int(h.now.epochMilliseconds))
        let version = try #require(json["versionNumber"] as? Int)

        let disconnected = try #require(h.send(id, .disconnect(DisconnectPacket())).publishes(to: monitor).first)
        #expect(disconnected.topic == "$aws/events/presence/disconnected/dev")
        let dj = try #require(try JSONSerializationLite.object(disconnected.payloadString))
        #expect(dj["clientInitiatedDisconnect"] as? Bool == true)
        #expect(dj["disconnectReason"] as? String == "CLIENT_INITIATED_DISCONNECT")
        #expect(dj["versionNumber"] as? Int == version, "connect and disconnect of one connection share the version")

        let again = h.connect("dev")
        _ = again
        let next = h.allActions.publishes(to: monitor).last { $0.topic == "$aws/events/presence/connected/dev" }
        let nj = try #require(try JSONSerializationLite.object(next?.payloadString ?? ""))
        #expect((nj["versionNumber"] as? Int ?? 0) > version)
    }

    @Test func subscriptionEventsListTheTopics() throws {
        let h = BrokerHarness()
        let monitor = h.connect("monitor")
        h.subscribe(monitor, "$aws/events/subscriptions/+/+")
        let id = h.connect("dev")
        let actions = h.send(id, .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("a", qos: .atMostOnce), TopicSubscription("b#", qos: .atMostOnce)])))
        let event = try #require(actions.publishes(to: monitor).first)
        #expect(event.topic == "$aws/events/subscriptions/subscribed/dev")
        let json = try #require(try JSONSerializationLite.object(event.payloadString))
        #expect(json["topics"] as? [String] == ["a"], "only filters that were granted")
        #expect(json["eventType"] as? String == "subscribed")
        let un = h.send(id, .unsubscribe(UnsubscribePacket(packetID: 2, filters: ["a"]))).publishes(to: monitor).first
        #expect(un?.topic == "$aws/events/subscriptions/unsubscribed/dev")
    }

    @Test func clientIDsWithWildcardsGetNoLifecycleEvents() {
        let h = BrokerHarness()
        let monitor = h.connect("monitor")
        h.subscribe(monitor, "$aws/events/presence/+/+")
        let id = h.open()
        #expect(h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "a+b"))).publishes(to: monitor).isEmpty)
    }
}
