@testable import Broker
import MQTTCore
import NIOCore
import Testing

@Suite("Wills and session expiry")
struct WillAndSessionTests {
    func will(_ topic: String = "wills/dev", delay: UInt32? = nil, retain: Bool = false, qos: QoS = .atLeastOnce) -> Will {
        Will(topic: topic, payload: ByteBuffer(string: "offline"), qos: qos, retain: retain, delayInterval: delay)
    }

    @Test func willIsPublishedWhenTheConnectionIsLost() {
        for version in [ProtocolVersion.v3_1_1, .v5] {
            let h = BrokerHarness()
            let watcher = h.connect("watcher")
            h.subscribe(watcher, "wills/#")
            let dev = h.connect("dev", version: version, will: will())
            let actions = h.dropConnection(dev)
            #expect(actions.publishes(to: watcher).map(\.payloadString) == ["offline"])
            #expect(actions.logs.contains { $0.eventType == .disconnect && $0.disconnectReason == "CONNECTION_LOST" })
        }
    }

    @Test func normalDisconnectDiscardsTheWill() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", will: will())
        let actions = h.send(dev, .disconnect(DisconnectPacket()))
        #expect(actions.closes(dev))
        #expect(actions.publishes(to: watcher).isEmpty)
        #expect(h.dropConnection(dev).publishes(to: watcher).isEmpty)
    }

    @Test func disconnectWithWillMessagePublishesIt() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", will: will())
        let actions = h.send(dev, .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage)))
        #expect(actions.publishes(to: watcher).count == 1)
    }

    @Test func retainedWillIsStored() {
        let h = BrokerHarness()
        let dev = h.connect("dev", will: will(retain: true))
        h.dropConnection(dev)
        #expect(h.broker.retainedMessage(topic: "wills/dev")?.payload == ByteBuffer(string: "offline"))
    }

    @Test func willDelayWaitsAndIsCancelledByResumingTheSession() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", cleanStart: true, sessionExpiry: 600, will: will(delay: 30))
        #expect(h.dropConnection(dev).publishes(to: watcher).isEmpty)
        h.advance(seconds: 20)
        #expect(h.tick().publishes(to: watcher).isEmpty)
        h.connect("dev", cleanStart: false, sessionExpiry: 600)
        h.advance(seconds: 20)
        #expect(h.tick().publishes(to: watcher).isEmpty, "resumed before the delay ran out: no will")
    }

    @Test func willDelayElapsesThenTheWillIsPublished() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", sessionExpiry: 600, will: will(delay: 30))
        h.dropConnection(dev)
        h.advance(seconds: 29)
        #expect(h.tick().publishes(to: watcher).isEmpty)
        h.advance(seconds: 2)
        #expect(h.tick().publishes(to: watcher).map(\.payloadString) == ["offline"])
        #expect(h.broker.session(clientID: "dev")?.hasPendingWill == false)
    }

    @Test func sessionEndingBeforeTheWillDelayPublishesTheWillThen() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let dev = h.connect("dev", sessionExpiry: 10, will: will(delay: 100))
        h.dropConnection(dev)
        h.advance(seconds: 11)
        #expect(h.tick().publishes(to: watcher).count == 1)
        #expect(h.broker.session(clientID: "dev") == nil)
    }

    @Test func takeoverPublishesTheOldConnectionsWill() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        h.connect("dev", will: will())
        let actions = h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "dev")))
        #expect(actions.publishes(to: watcher).count == 1)
    }

    @Test func willWithQoS2IsRefused() {
        let h = BrokerHarness()
        let v5 = h.open()
        let actions = h.send(v5, .connect(ConnectPacket(protocolVersion: .v5, clientID: "a", will: will(qos: .exactlyOnce))))
        #expect(actions.connack(to: v5)?.reasonCode == .qosNotSupported)
        let v3 = h.open()
        let v3Actions = h.send(v3, .connect(ConnectPacket(protocolVersion: .v3_1_1, clientID: "b", will: will(qos: .exactlyOnce))))
        #expect(v3Actions.connack(to: v3) == nil, "3.1.1 has no return code for it: the connection is closed")
        #expect(v3Actions.closes(v3))
    }

    @Test func willTopicIsValidated() {
        for (topic, code) in [("bad/#", ReasonCode.topicNameInvalid), ("$aws/x", .notAuthorized), ("a/b/c/d/e/f/g/h/i", .topicNameInvalid),
                              ("will/\u{1}", .topicNameInvalid)] {
            let h = BrokerHarness()
            let id = h.open()
            let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "a", will: will(topic))))
            #expect(actions.connack(to: id)?.reasonCode == code, "\(topic)")
            #expect(actions.closes(id))
        }
    }

    @Test func sessionExpiresAfterItsInterval() {
        let h = BrokerHarness()
        let dev = h.connect("dev", sessionExpiry: 60)
        h.subscribe(dev, "t")
        h.dropConnection(dev)
        h.advance(seconds: 59)
        h.tick()
        #expect(h.broker.session(clientID: "dev") != nil)
        h.advance(seconds: 2)
        h.tick()
        #expect(h.broker.session(clientID: "dev") == nil)
        #expect(h.broker.subscriptionCount == 0)
    }

    @Test func sessionExpiryIsClampedAndReturned() {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "a", properties: MQTTProperties(sessionExpiryInterval: 999_999))))
        #expect(actions.connack(to: id)?.properties.sessionExpiryInterval == 3600)
        #expect(h.broker.session(clientID: "a")?.expiryInterval == 3600)
    }

    @Test func persistent311SessionsLastAnHour() {
        let h = BrokerHarness()
        let dev = h.connect("dev", version: .v3_1_1, cleanStart: false)
        h.dropConnection(dev)
        h.advance(seconds: 3599)
        h.tick()
        #expect(h.broker.session(clientID: "dev") != nil)
        h.advance(seconds: 2)
        h.tick()
        #expect(h.broker.session(clientID: "dev") == nil)
    }

    @Test func cleanSessionEndsWithTheConnection() {
        let h = BrokerHarness()
        let dev = h.connect("dev", version: .v3_1_1, cleanStart: true)
        h.subscribe(dev, "t")
        h.dropConnection(dev)
        #expect(h.broker.session(clientID: "dev") == nil)
        #expect(h.broker.subscriptionCount == 0)
    }

    @Test func disconnectMayShortenButNotCreateASessionExpiry() {
        let h = BrokerHarness()
        let a = h.connect("a", sessionExpiry: 600)
        h.send(a, .disconnect(DisconnectPacket(properties: MQTTProperties(sessionExpiryInterval: 0))))
        #expect(h.broker.session(clientID: "a") == nil)

        let b = h.connect("b")
        let actions = h.send(b, .disconnect(DisconnectPacket(properties: MQTTProperties(sessionExpiryInterval: 60))))
        #expect(actions.disconnect(to: b)?.reasonCode == .protocolError)
    }
}
