@testable import Broker
import MQTTCore
import NIOCore
import Testing

@Suite("Retained messages")
struct RetainedTests {
    @Test func retainedMessageIsStoredReplacedAndDeleted() throws {
        let h = BrokerHarness()
        let pub = h.connect("pub")
        h.publish(pub, "r/a", "v1", qos: .atLeastOnce, retain: true)
        h.publish(pub, "r/a", "v2", qos: .atLeastOnce, retain: true)
        #expect(h.broker.retainedMessage(topic: "r/a")?.payload == ByteBuffer(string: "v2"))
        let sub = h.connect("sub")
        let got = h.subscribe(sub, "r/a").publishes(to: sub)
        #expect(got.map(\.payloadString) == ["v2"])
        #expect(got.first?.retain == true)

        let live = h.connect("live")
        h.subscribe(live, "r/a", qos: .atMostOnce)
        let deletion = h.publish(pub, "r/a", "", qos: .atMostOnce, retain: true)
        #expect(deletion.publishes(to: live).count == 1, "the empty message still reaches current subscribers")
        #expect(deletion.publishes(to: live).first?.retain == false, "live deliveries carry RETAIN 0")
        #expect(h.broker.retainedMessage(topic: "r/a") == nil)
        let late = h.connect("late")
        #expect(h.subscribe(late, "r/a").publishes(to: late).isEmpty)
    }

    @Test func retainedIsSentAfterSubAckAndToWildcardSubscriptionsToo() throws {
        let h = BrokerHarness()
        let pub = h.connect("pub")
        h.publish(pub, "home/kitchen/temp", "21", retain: true)
        h.publish(pub, "home/hall/temp", "19", retain: true)
        let sub = h.connect("sub")
        let actions = h.subscribe(sub, "home/+/temp")
        let packets = actions.packets(to: sub)
        guard case .suback = packets.first else { Issue.record("SUBACK first"); return }
        #expect(Set(actions.publishes(to: sub).map(\.payloadString)) == ["21", "19"])
    }

    @Test func retainHandlingOptions() {
        let h = BrokerHarness()
        let pub = h.connect("pub")
        h.publish(pub, "r", "x", retain: true)
        let sub = h.connect("sub")
        #expect(h.subscribe(sub, "r", options: SubscriptionOptions(retainHandling: .doNotSend)).publishes(to: sub).isEmpty)
        let other = h.connect("other")
        #expect(h.subscribe(other, "r", options: SubscriptionOptions(retainHandling: .sendOnSubscribeIfNew), packetID: 1).publishes(to: other).count == 1)
        #expect(h.subscribe(other, "r", options: SubscriptionOptions(retainHandling: .sendOnSubscribeIfNew), packetID: 2).publishes(to: other).isEmpty,
                "not sent again for an existing subscription")
        #expect(h.subscribe(other, "r", options: SubscriptionOptions(retainHandling: .sendOnSubscribe), packetID: 3).publishes(to: other).count == 1)
    }

    @Test func retainAsPublishedKeepsTheFlagOnLiveDeliveries() {
        let h = BrokerHarness()
        let sub = h.connect("sub")
        h.subscribe(sub, "r", options: SubscriptionOptions(qos: .atMostOnce, retainAsPublished: true))
        let pub = h.connect("pub")
        #expect(h.publish(pub, "r", "x", retain: true).publishes(to: sub).first?.retain == true)
        #expect(h.publish(pub, "r", "y", retain: false).publishes(to: sub).first?.retain == false)
    }

    @Test func sharedSubscriptionsNeverGetRetainedMessages() {
        let h = BrokerHarness()
        let pub = h.connect("pub")
        h.publish(pub, "r", "x", retain: true)
        let sub = h.connect("sub")
        #expect(h.subscribe(sub, "$share/g/r").publishes(to: sub).isEmpty)
    }

    @Test func expiredRetainedMessagesAreNotDelivered() {
        let h = BrokerHarness()
        let pub = h.connect("pub")
        h.publish(pub, "r", "x", retain: true, properties: PublishProperties(messageExpiryInterval: 10))
        h.advance(seconds: 11)
        let sub = h.connect("sub")
        #expect(h.subscribe(sub, "r").publishes(to: sub).isEmpty)
        h.advance(seconds: 120)
        h.tick()
        #expect(h.broker.retainedMessageCount == 0, "housekeeping drops expired messages")
    }

    @Test func storeIsBoundedAndRefusesNewTopicsWhenFull() {
        var limits = BrokerLimits()
        limits.maximumRetainedMessages = 2
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        h.publish(pub, "r/1", "a", qos: .atLeastOnce, retain: true, packetID: 1)
        h.publish(pub, "r/2", "b", qos: .atLeastOnce, retain: true, packetID: 2)
        let full = h.publish(pub, "r/3", "c", qos: .atLeastOnce, retain: true, packetID: 3)
        #expect(full.puback(to: pub)?.reasonCode == .quotaExceeded)
        #expect(h.broker.retainedMessageCount == 2)
        #expect(h.publish(pub, "r/1", "replaced", qos: .atLeastOnce, retain: true, packetID: 4).puback(to: pub)?.reasonCode == .success,
                "replacing an existing topic is always allowed")
        let v3 = h.connect("v3", version: .v3_1_1)
        #expect(h.publish(v3, "r/4", "d", qos: .atLeastOnce, retain: true).closes(v3))
    }

    @Test func storeIsBoundedInBytes() {
        var limits = BrokerLimits()
        limits.maximumRetainedBytes = 10
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        #expect(h.publish(pub, "a", "123456", qos: .atLeastOnce, retain: true).puback(to: pub)?.reasonCode == .success)
        #expect(h.publish(pub, "b", "123456", qos: .atLeastOnce, retain: true).puback(to: pub)?.reasonCode == .quotaExceeded)
    }

    @Test func retainedTrieMatchesLikeTheReferenceMatcher() {
        let topics = ["a", "a/b", "a/b/c", "a//c", "/x", "x/", "$SYS/up", "$aws/things/t/shadow", "sport/tennis/player1",
                      "sport", "sport/tennis/player1/ranking"]
        let filters = ["#", "+", "a/#", "a/+", "a/+/c", "+/+", "/+", "+/", "$SYS/#", "$aws/+/+/shadow", "sport/#",
                       "sport/tennis/+", "+/tennis/#", "a/b/c", "nothing/#"]
        let store = RetainedStore(maximumCount: 100, maximumBytes: 1 << 20)
        let now = BrokerInstant(uptimeNanoseconds: 1, epochMilliseconds: 1)
        for topic in topics {
            let message = StoredMessage(PublishPacket(topic: topic, payload: ByteBuffer(string: "v"), retain: true),
                                        at: now, publisher: nil, maximumExpiry: 100, compact: true)
            #expect(store.store(message) == .stored)
        }
        for filter in filters {
            let expected = Set(topics.filter { Topic.matches(filter: filter, topic: $0) })
            #expect(Set(store.matching(filter: filter, at: now).map(\.topic)) == expected, "filter \(filter)")
        }
        #expect(store.matching(filter: "#", at: now, limit: 3).count == 3)
        for topic in topics {
            let deletion = StoredMessage(PublishPacket(topic: topic, payload: ByteBuffer(), retain: true),
                                         at: now, publisher: nil, maximumExpiry: 100, compact: true)
            #expect(store.store(deletion) == .deleted)
        }
        #expect(store.count == 0 && store.totalBytes == 0)
        #expect(store.matching(filter: "#", at: now).isEmpty)
    }

    @Test func retainedQuotaCountsPropertiesToo() {
        var limits = BrokerLimits()
        limits.maximumRetainedBytes = 1000
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        let heavy = PublishProperties(userProperties: [UserProperty("k", String(repeating: "v", count: 2000))])
        #expect(h.publish(pub, "r", "x", qos: .atLeastOnce, retain: true, properties: heavy).puback(to: pub)?.reasonCode == .quotaExceeded)
    }

    @Test func retainedMessagesSentOnSubscribeAreBounded() {
        var limits = BrokerLimits()
        limits.maximumQueuedMessages = 5
        let h = BrokerHarness(limits: limits)
        let pub = h.connect("pub")
        for i in 1...20 { h.publish(pub, "r/\(i)", "v", retain: true) }
        let sub = h.connect("sub")
        let actions = h.subscribe(sub, "r/+", qos: .atMostOnce)
        #expect(actions.publishes(to: sub).count == 5)
        #expect(actions.logs.contains { $0.reason == "RETAINED_LIMIT_EXCEEDED" })
    }
}
