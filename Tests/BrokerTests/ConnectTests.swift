@testable import Broker
import MQTTCore
import NIOCore
import Testing

@Suite("CONNECT and the connection lifecycle")
struct ConnectTests {
    @Test func v5ConnAckAnnouncesWhatIsImplemented() throws {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientID: "dev")))
        let connack = try #require(actions.connack(to: id))
        #expect(connack.reasonCode == .success)
        #expect(connack.sessionPresent == false)
        let p = connack.properties
        #expect(p.maximumQoS == .atLeastOnce)
        #expect(p.retainAvailable == true)
        #expect(p.maximumPacketSize == UInt32(BrokerLimits().maximumPacketSize))
        #expect(p.topicAliasMaximum == 8)
        #expect(p.receiveMaximum == 100)
        #expect(p.serverKeepAlive == 60)
        #expect(p.wildcardSubscriptionAvailable == true)
        #expect(p.subscriptionIdentifierAvailable == true)
        #expect(p.sharedSubscriptionAvailable == true)
        #expect(p.assignedClientIdentifier == nil)
        #expect(actions.logs.contains { $0.eventType == .connect && $0.status == .success && $0.clientID == "dev" })
    }

    @Test func mqtt31IsRefusedWithReturnCode1() {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v3_1, clientID: "old")))
        #expect(actions.connack(to: id)?.reasonCode == .unsupportedProtocolVersion)
        #expect(ConnectReturnCode(.unsupportedProtocolVersion).rawValue == 1)
        #expect(actions.closes(id))
        #expect(h.broker.connectionCount == 0)
    }

    @Test func unknownProtocolLevelGetsReturnCode1BeforeClosing() {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.decodeFailed(id, MQTTCodecError(.unsupportedProtocolVersion, "level 6"))
        #expect(actions.connack(to: id)?.reasonCode == .unsupportedProtocolVersion)
        #expect(actions.closes(id))
    }

    @Test func emptyClientIDIsAssignedInV5() throws {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "")))
        let connack = try #require(actions.connack(to: id))
        #expect(connack.reasonCode == .success)
        let assigned = try #require(connack.properties.assignedClientIdentifier)
        #expect(assigned.hasPrefix("auto-"))
        let second = h.open()
        let other = h.send(second, .connect(ConnectPacket(protocolVersion: .v5, clientID: "")))
        #expect(other.connack(to: second)?.properties.assignedClientIdentifier != assigned)
    }

    @Test func emptyClientIDNeedsCleanSessionIn311() {
        let h = BrokerHarness()
        let clean = h.open()
        #expect(h.send(clean, .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: true, clientID: ""))).connack(to: clean)?.reasonCode == .success)
        let persistent = h.open()
        let actions = h.send(persistent, .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: false, clientID: "")))
        #expect(actions.connack(to: persistent)?.reasonCode == .clientIdentifierNotValid)
        #expect(actions.closes(persistent))
    }

    @Test(arguments: [String(repeating: "x", count: 129), "$reserved", "dev\u{1}ice", "tab\t", "del\u{7F}", "c1\u{9F}"])
    func invalidClientIDsAreRefused(clientID: String) {
        for version in [ProtocolVersion.v3_1_1, .v5] {
            let h = BrokerHarness()
            let id = h.open()
            let actions = h.send(id, .connect(ConnectPacket(protocolVersion: version, clientID: clientID)))
            #expect(actions.connack(to: id)?.reasonCode == .clientIdentifierNotValid)
            #expect(actions.closes(id))
            #expect(actions.logs.contains { $0.eventType == .connect && $0.status == .failure && $0.reason == "CLIENT_ID_INVALID" })
        }
    }

    @Test(arguments: [ProtocolVersion.v3_1_1, .v5])
    func controlCharactersInTheUserNameAreRefused(version: ProtocolVersion) {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: version, clientID: "a", username: "?SDK=x\u{7}")))
        #expect(actions.connack(to: id)?.reasonCode == .badUserNameOrPassword)
        #expect(actions.closes(id))
        // The SDKs' metrics user name is fine.
        let ok = h.open()
        let accepted = h.send(ok, .connect(ConnectPacket(protocolVersion: version, clientID: "b", username: "?SDK=Python&Version=1.0")))
        #expect(accepted.connack(to: ok)?.reasonCode == .success)
    }

    /// [MQTT-3.1.2-24]: a CONNACK larger than the client's Maximum Packet Size is not sent; the connection
    /// is refused before it takes over a session or counts as connected.
    @Test func connAckThatDoesNotFitClosesBeforeTheSessionIsTouched() {
        let h = BrokerHarness()
        let first = h.connect("dev")
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "dev", properties: MQTTProperties(maximumPacketSize: 10))))
        #expect(actions.packets(to: id).isEmpty && actions.closes(id))
        #expect(actions.logs.contains { $0.eventType == .connect && $0.status == .failure && $0.reason == "PACKET_TOO_LARGE" })
        #expect(!actions.logs.contains { $0.eventType == .connect && $0.status == .success })
        #expect(!actions.closes(first), "the live connection with that client id is not taken over")
        // A limit the CONNACK fits is fine.
        let ok = h.open()
        let accepted = h.send(ok, .connect(ConnectPacket(protocolVersion: .v5, clientID: "other", properties: MQTTProperties(maximumPacketSize: 64))))
        #expect(accepted.connack(to: ok)?.reasonCode == .success)
    }

    @Test func clientIDOf128BytesIsAccepted() {
        let h = BrokerHarness()
        h.connect(String(repeating: "x", count: 128))
    }

    @Test func enhancedAuthenticationIsRefused() {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "a", properties: MQTTProperties(authenticationMethod: "SCRAM-SHA-1"))))
        #expect(actions.connack(to: id)?.reasonCode == .badAuthenticationMethod)
        #expect(actions.closes(id))
    }

    @Test func takeoverClosesTheOldConnection() throws {
        let h = BrokerHarness()
        let monitor = h.connect("monitor")
        h.subscribe(monitor, "$aws/events/presence/disconnected/+")
        let first = h.connect("dev")
        let actions = h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "dev")))
        #expect(actions.disconnect(to: first)?.reasonCode == .sessionTakenOver)
        #expect(actions.closes(first))
        let log = try #require(actions.logs.first { $0.eventType == .disconnect && $0.clientID == "dev" })
        #expect(log.status == .failure)
        #expect(log.reason == "DUPLICATE_CLIENT_ID")
        let event = try #require(actions.publishes(to: monitor).first)
        #expect(event.topic == "$aws/events/presence/disconnected/dev")
        #expect(event.payloadString.contains("\"disconnectReason\":\"DUPLICATE_CLIENTID\""))
        #expect(event.payloadString.contains("\"clientInitiatedDisconnect\":false"))
        #expect(h.broker.connectionCount == 2)
        // Packets that still arrive on the old connection are ignored.
        #expect(h.publish(first, "late", "x", qos: .atLeastOnce).isEmpty)
    }

    @Test func presenceChangesAreReportedOnlyWhenAsked() {
        func presence(_ actions: [BrokerAction]) -> [String] {
            actions.compactMap { if case .presenceChanged(let clientID) = $0 { clientID } else { nil } }
        }
        let h = BrokerHarness()
        let quiet = h.connect("quiet")
        #expect(presence(h.allActions).isEmpty, "nothing is reported unless the host asks")
        h.broker.reportsPresence = true
        let dev = h.connect("dev")
        #expect(presence(h.allActions) == ["dev"])
        #expect(presence(h.dropConnection(dev)) == ["dev"])
        // A takeover is a disconnect and a connect of the same client id.
        let again = h.connect("quiet2")
        #expect(presence(h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "quiet2")))) == ["quiet2", "quiet2"])
        // Client ids AWS sends no lifecycle events for are not reported either.
        #expect(presence(h.send(h.open(), .connect(ConnectPacket(protocolVersion: .v5, clientID: "a+b")))).isEmpty)
        _ = (quiet, again)
    }

    @Test func keepAliveIsEnforcedAtOneAndAHalfTimes() {
        let h = BrokerHarness()
        let id = h.connect("dev", keepAlive: 60)
        h.advance(seconds: 89)
        #expect(!h.tick().closes(id))
        h.send(id, .pingreq)
        h.advance(seconds: 89)
        #expect(!h.tick().closes(id), "a PINGREQ resets the timer")
        h.advance(seconds: 2)
        let actions = h.tick()
        #expect(actions.disconnect(to: id)?.reasonCode == .keepAliveTimeout)
        #expect(actions.closes(id))
        #expect(actions.logs.contains { $0.disconnectReason == "MQTT_KEEP_ALIVE_TIMEOUT" })
    }

    @Test(arguments: [(UInt16(0), UInt16(1200)), (5, 30), (29, 30), (30, 30), (1200, 1200), (1201, 1200), (65535, 1200)])
    func keepAliveIsClampedToAWSRange(requested: UInt16, granted: UInt16) throws {
        let h = BrokerHarness()
        let id = h.open()
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, keepAlive: requested, clientID: "k")))
        #expect(try #require(actions.connack(to: id)).properties.serverKeepAlive == granted)
        h.advance(seconds: Double(granted) * 1.5 - 1)
        #expect(!h.tick().closes(id))
        h.advance(seconds: 2)
        #expect(h.tick().closes(id))
    }

    @Test func connectionThatNeverSendsConnectIsClosed() {
        let h = BrokerHarness()
        let id = h.open()
        h.advance(seconds: 9)
        #expect(!h.tick().closes(id))
        h.advance(seconds: 2)
        #expect(h.tick().closes(id))
    }

    @Test func secondConnectIsAProtocolError() {
        let h = BrokerHarness()
        let id = h.connect("dev")
        let actions = h.send(id, .connect(ConnectPacket(protocolVersion: .v5, clientID: "dev")))
        #expect(actions.disconnect(to: id)?.reasonCode == .protocolError)
        #expect(actions.closes(id))
    }

    @Test func serverOnlyPacketsAndQoS2FlowsAreProtocolErrors() {
        for packet in [MQTTPacket.pubrec(AckPacket(packetID: 1)), .pubrel(AckPacket(packetID: 1)), .pingresp, .connack(ConnAckPacket()), .auth(AuthPacket())] {
            let h = BrokerHarness()
            let v5 = h.connect("v5")
            let actions = h.send(v5, packet)
            #expect(actions.disconnect(to: v5)?.reasonCode == .protocolError, "\(packet.type)")
            #expect(actions.closes(v5))
            let v3 = h.connect("v3", version: .v3_1_1)
            let v3Actions = h.send(v3, packet)
            #expect(v3Actions.disconnect(to: v3) == nil, "3.1.1 has no DISCONNECT from the server")
            #expect(v3Actions.closes(v3))
        }
    }

    @Test func malformedInputAfterConnectGetsDisconnect0x81AndPublishesTheWill() {
        let h = BrokerHarness()
        let watcher = h.connect("watcher")
        h.subscribe(watcher, "wills/#")
        let id = h.connect("dev", will: Will(topic: "wills/dev", payload: ByteBuffer(string: "gone")))
        let actions = h.decodeFailed(id, .malformed("bad"))
        #expect(actions.disconnect(to: id)?.reasonCode == .malformedPacket)
        #expect(actions.disconnect(to: id)?.properties.reasonString == "bad")
        #expect(actions.closes(id))
        #expect(actions.publishes(to: watcher).map(\.payloadString) == ["gone"])
        #expect(h.decodeFailed(id, .malformed("again")).isEmpty, "a closed connection takes no more events")
    }

    @Test func packetTooLargeGetsDisconnect0x95() {
        let h = BrokerHarness()
        let id = h.connect("dev")
        #expect(h.decodeFailed(id, .packetTooLarge("big")).disconnect(to: id)?.reasonCode == .packetTooLarge)
    }

    @Test func shutdownDisconnectsEveryClientWithServerShuttingDown() {
        let h = BrokerHarness()
        let a = h.connect("a")
        let b = h.connect("b", version: .v3_1_1)
        let actions = h.record(h.broker.shutdown(at: h.now))
        #expect(actions.disconnect(to: a)?.reasonCode == .serverShuttingDown)
        #expect(actions.closes(a) && actions.closes(b))
        #expect(actions.disconnect(to: b) == nil)
    }
}
