@testable import Broker
import MQTTCore
import NIOCore
import Testing

/// GetConnection, ListSubscriptions and DeleteConnection (reference 4.11) on the broker core.
@Suite("Connection APIs")
struct ConnectionAPITests {
    func will(_ topic: String) -> Will { Will(topic: topic, payload: ByteBuffer(string: "gone"), qos: .atLeastOnce, retain: false) }

    @Test func describeAConnectedClientThenItsOfflineSession() {
        let h = BrokerHarness()
        let dev = h.connect("dev", cleanStart: false, sessionExpiry: 600, keepAlive: 45)
        let live = h.broker.describeConnection(clientID: "dev", at: h.now)
        #expect(live?.connected == true && live?.keepAlive == 45 && live?.cleanSession == false && live?.sessionExpirySeconds == 600)
        #expect(live?.connectedSinceMilliseconds == h.now.epochMilliseconds && live?.sourceIP != nil)
        h.advance(seconds: 3)
        h.dropConnection(dev)
        let offline = h.broker.describeConnection(clientID: "dev", at: h.now)
        #expect(offline?.connected == false && offline?.disconnectReason == "CONNECTION_LOST")
        #expect(offline?.disconnectedSinceMilliseconds == h.now.epochMilliseconds && offline?.keepAlive == nil)
        #expect(h.broker.describeConnection(clientID: "nobody", at: h.now) == nil)
        let clean = h.connect("clean")
        #expect(h.broker.describeConnection(clientID: "clean", at: h.now)?.cleanSession == true)
        h.dropConnection(clean)
        #expect(h.broker.describeConnection(clientID: "clean", at: h.now) == nil, "a clean session ends with its connection")
    }

    @Test func subscriptionsArePagedInFilterOrderWithSharedOnesSpelledOut() {
        let h = BrokerHarness()
        let dev = h.connect("dev")
        for filter in ["b/#", "a/+", "$share/g/c"] { h.subscribe(dev, filter, qos: .atMostOnce) }
        let first = h.broker.subscriptions(clientID: "dev", after: nil, limit: 2)
        #expect(first?.page.map(\.topicFilter) == ["$share/g/c", "a/+"] && first?.more == true)
        let rest = h.broker.subscriptions(clientID: "dev", after: "a/+", limit: 2)
        #expect(rest?.page.map(\.topicFilter) == ["b/#"] && rest?.more == false && rest?.page.first?.qos == 0)
        #expect(h.broker.subscriptions(clientID: "none", after: nil, limit: 2) == nil)
    }

    @Test func deleteConnectionDisconnectsWithAdministrativeActionAndPublishesTheWill() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        h.subscribe(watcher, "$aws/events/presence/disconnected/+")
        let dev = h.connect("dev", will: will("wills/dev"))
        let (found, actions) = h.broker.deleteConnection(clientID: "dev", cleanSession: false, preventWillMessage: false, at: h.now)
        h.record(actions)
        #expect(found)
        #expect(actions.disconnect(to: dev)?.reasonCode == .administrativeAction)
        #expect(actions.closes(dev))
        #expect(actions.publishes(to: watcher).contains { $0.topic == "wills/dev" })
        #expect(actions.publishes(to: watcher).contains { $0.topic.hasSuffix("/dev") && $0.payloadString.contains("API_INITIATED_DISCONNECT") })
        #expect(!h.broker.deleteConnection(clientID: "dev", cleanSession: false, preventWillMessage: false, at: h.now).found, "no longer connected")
    }

    @Test func anExpiredConnectionHearsMaximumConnectTimeAndEndsWithTheTTLReason() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        h.subscribe(watcher, "$aws/events/presence/disconnected/+")
        let dev = h.connect("dev", will: will("wills/dev"))
        let actions = h.record(h.broker.expireConnection(dev, reasonString: "lifetime over", at: h.now))
        #expect(actions.disconnect(to: dev)?.reasonCode == .maximumConnectTime)
        #expect(actions.disconnect(to: dev)?.properties.reasonString == "lifetime over")
        #expect(actions.closes(dev))
        #expect(actions.publishes(to: watcher).contains { $0.topic == "wills/dev" })
        #expect(actions.publishes(to: watcher).contains { $0.topic.hasSuffix("/dev") && $0.payloadString.contains("WEBSOCKET_TTL_EXPIRATION") })
        #expect(h.broker.expireConnection(dev, reasonString: "again", at: h.now).isEmpty, "already ended")
        let old = h.connect("old", version: .v3_1_1)
        let closed = h.record(h.broker.expireConnection(old, reasonString: "lifetime over", at: h.now))
        #expect(closed.disconnect(to: old) == nil && closed.closes(old), "MQTT 3.1.1 has no DISCONNECT from the server")
        let silent = h.open()
        #expect(h.broker.expireConnection(silent, reasonString: "x", at: h.now).closes(silent))
    }

    @Test func deleteConnectionCanDropTheWillAndThePersistentSession() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", cleanStart: false, sessionExpiry: 600,
                            will: Will(topic: "wills/dev", payload: ByteBuffer(string: "late"), qos: .atMostOnce, retain: false, delayInterval: 30))
        let kept = h.broker.deleteConnection(clientID: "dev", cleanSession: false, preventWillMessage: true, at: h.now)
        h.record(kept.actions)
        #expect(kept.actions.closes(dev) && !kept.actions.publishes(to: watcher).contains { $0.topic == "wills/dev" })
        h.advance(seconds: 60)
        #expect(!h.tick().publishes(to: watcher).contains { $0.topic == "wills/dev" }, "not even the delayed will")
        #expect(h.broker.session(clientID: "dev") != nil, "the persistent session stays")
        let again = h.connect("dev", cleanStart: false, sessionExpiry: 600)
        let removed = h.broker.deleteConnection(clientID: "dev", cleanSession: true, preventWillMessage: false, at: h.now)
        #expect(removed.found && removed.actions.closes(again))
        #expect(h.broker.session(clientID: "dev") == nil, "cleanSession removed it")
    }

    @Test func aDirectMessageGoesToOneClientOnlyAndItsAcknowledgementComesBack() {
        let h = BrokerHarness()
        let target = h.connect("target")
        let bystander = h.connect("bystander")
        h.subscribe(bystander, "#")
        let publish = PublishPacket(topic: "direct/cmd", payload: ByteBuffer(string: "go"), qos: .atMostOnce)
        let (outcome, actions) = h.broker.sendDirectMessage(clientID: "target", publish, confirmation: false, token: 1, at: h.now)
        #expect(outcome == .sent)
        #expect(actions.publishes(to: target).map { [$0.topic, $0.payloadString] } == [["direct/cmd", "go"]])
        #expect(actions.publishes(to: target).first?.packetID == nil)
        #expect(actions.publishes(to: bystander).isEmpty, "not routed: no subscription needed, none served")

        let (awaiting, sent) = h.broker.sendDirectMessage(clientID: "target", publish, confirmation: true, token: 7, at: h.now)
        #expect(awaiting == .awaitingAcknowledgement)
        let delivered = sent.publishes(to: target).first
        #expect(delivered?.qos == .atLeastOnce && delivered?.packetID != nil && delivered?.retain == false)
        let acked = h.send(target, .puback(AckPacket(packetID: delivered?.packetID ?? 0)))
        #expect(acked.contains(.directMessageAcknowledged(token: 7)))
        #expect(h.broker.session(clientID: "target")?.inflightCount == 0, "never part of the session's in-flight window")
    }

    @Test func directMessageRefusals() {
        let h = BrokerHarness()
        h.connect("target")
        h.connect("offline", cleanStart: false, sessionExpiry: 600)
        _ = h.dropConnection(ConnectionID(2))
        func refusal(_ client: String, _ topic: String, size: Int = 2) -> Int? {
            let publish = PublishPacket(topic: topic, payload: ByteBuffer(repeating: 0x61, count: size), qos: .atMostOnce)
            if case .refused(let refusal) = h.broker.sendDirectMessage(clientID: client, publish, confirmation: false, token: 1, at: h.now).0 {
                return refusal.httpStatus
            }
            return nil
        }
        #expect(refusal("target", "$aws/things/x") == 400)
        #expect(refusal("target", "a/+/b") == 400)
        #expect(refusal("target", "big", size: h.broker.limits.maximumPayloadSize + 1) == 413)
        #expect(refusal("nobody", "t") == 404)
        #expect(refusal("offline", "t") == 404, "a persistent session does not queue direct messages")
        #expect(refusal("target", "t") == nil)
    }
}
