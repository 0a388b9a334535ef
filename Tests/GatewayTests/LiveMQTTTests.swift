import Broker
import DeviceIdentity
import Foundation
import MQTTCore
import NIOCore
import NIOSSL
import PortcullisServer
import PortcullisTesting
import Testing

/// The real server on port 0 over real mutual TLS, with certificates made in the test.
@Suite("Live MQTT over mutual TLS", .serialized)
struct LiveMQTTTests {
    @Test(arguments: [ProtocolVersion.v3_1_1, .v5])
    func publishAndSubscribeAtQoS0And1(version: ProtocolVersion) async throws {
        try await LiveServer.with { live in
            let (sub, subAck) = try await live.connectedClient("sub-\(version.rawValue)", version: version)
            #expect(subAck.reasonCode == .success)
            #expect(try await sub.subscribe("live/+", qos: .atLeastOnce).reasonCodes == [.grantedQoS1])
            let (pub, _) = try await live.connectedClient("pub-\(version.rawValue)", version: version)
            #expect(try await pub.publish("live/a", "zero", qos: .atMostOnce) == nil)
            #expect(try await pub.publish("live/b", "one", qos: .atLeastOnce, packetID: 42)?.reasonCode == .success)
            let first = try await sub.nextPublish()
            let second = try await sub.nextPublish()
            #expect([first.payloadText, second.payloadText] == ["zero", "one"])
            #expect(second.qos == .atLeastOnce)
            await pub.close()
            await sub.close()
        }
    }

    @Test func principalIsTheCertificateID() async throws {
        try await LiveServer.with { live in
            let credential = try live.pki.device("dev")
            let monitor = try await live.connectedClient("monitor").0
            try await monitor.subscribe("$aws/events/presence/connected/dev")
            let dev = try await live.client("dev", credential: credential)
            try await dev.connect(clientID: "dev")
            let event = try await monitor.nextPublish()
            #expect(event.payloadText.contains("\"principalIdentifier\":\"\(credential.certificateID)\""))
            let log = await live.events.waitFor { $0.eventType == .connect && $0.clientID == "dev" }
            #expect(log?.principalID == credential.certificateID)
            #expect(log?.sourceIP == "127.0.0.1")
        }
    }

    @Test func clientWithoutCertificateIsRefusedAtTheHandshake() async throws {
        try await LiveServer.with { live in
            let client = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: nil)
            await #expect(throws: (any Error).self) { try await client.connect(clientID: "anon") }
            let log = await live.events.waitFor { $0.reason == "AUTHENTICATION_FAILURE" }
            #expect(log?.details?.contains("no certificate") == true)
            #expect(live.server.host.withBroker { $0.connectionCount } == 0)
        }
    }

    @Test func certificateFromAnotherCAIsRefused() async throws {
        try await LiveServer.with { live in
            let other = try TestPKI(commonName: "Portcullis Local Root CA")
            let client = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: try other.device("intruder"))
            await #expect(throws: (any Error).self) { try await client.connect(clientID: "intruder") }
            let log = await live.events.waitFor { $0.reason == "AUTHENTICATION_FAILURE" }
            #expect(log?.details?.contains("untrustedIssuer") == true)
        }
    }

    @Test func anUnregisteredOrInactiveCertificateIsRefusedEvenFromTheGatewaysCA() async throws {
        try await LiveServer.with { live in
            let credential = try live.pki.device("stranger")
            let client = try await live.client("stranger", credential: credential, register: false)
            await #expect(throws: (any Error).self) { try await client.connect(clientID: "stranger") }
            let log = await live.events.waitFor { $0.reason == "AUTHENTICATION_FAILURE" && $0.details?.contains("notRegistered") == true }
            #expect(log?.details?.contains(credential.certificateID) == true)

            try await live.register(credential, status: "INACTIVE")
            let again = try await live.client("stranger", credential: credential, register: false)
            await #expect(throws: (any Error).self) { try await again.connect(clientID: "stranger") }
            #expect(await live.events.waitFor { $0.details?.contains("is INACTIVE") == true } != nil)

            try await live.setStatus("ACTIVE", of: credential)
            let admitted = try await live.client("stranger", credential: credential, register: false)
            #expect(try await admitted.connect(clientID: "stranger").reasonCode == .success)
        }
    }

    @Test(arguments: ["REVOKED", "INACTIVE"])
    func changingACertificateAwayFromActiveClosesItsLiveConnections(_ status: String) async throws {
        try await LiveServer.with { live in
            let credential = try live.pki.device("doomed")
            let (bystander, _) = try await live.connectedClient("bystander")
            let v5 = try await live.client("doomed-v5", credential: credential)
            #expect(try await v5.connect(clientID: "doomed-v5").reasonCode == .success)
            let v311 = try await live.client("doomed-v311", version: .v3_1_1, credential: credential)
            #expect(try await v311.connect(clientID: "doomed-v311").reasonCode == .success)

            try await live.setStatus(status, of: credential)
            // The change is applied before the registry call returns; the close is on its way within a second.
            let packets = try await v5.waitForClose()
            #expect(packets.last == .disconnect(DisconnectPacket(reasonCode: .notAuthorized,
                                                                 properties: MQTTProperties(reasonString: "the client certificate is no longer active or has expired"))))
            #expect(try await v311.waitForClose().isEmpty)
            let log = await live.events.waitFor { $0.eventType == .disconnect && $0.clientID == "doomed-v5" }
            #expect(log?.reason == "AUTHENTICATION_FAILURE")
            // Others are untouched.
            #expect(try await bystander.subscribe("still/here").reasonCodes == [.grantedQoS1])
            let retry = try await live.client("doomed-v5", credential: credential, register: false)
            await #expect(throws: (any Error).self) { try await retry.connect(clientID: "doomed-v5") }
        }
    }

    @Test func expiredAndNotYetValidCertificatesAreRefused() async throws {
        try await LiveServer.with { live in
            // Registered and ACTIVE, so only the dates are wrong.
            for (credential, code) in [(try live.pki.expiredDevice("old"), "expired"), (try live.pki.futureDevice("new"), "notYetValid")] {
                try await live.register(credential)
                let client = try await MQTTTestClient.open(port: live.port, caPEM: live.caPEM, credential: credential)
                await #expect(throws: (any Error).self) { try await client.connect(clientID: "x") }
                let log = await live.events.waitFor { $0.details?.contains(code) == true }
                #expect(log != nil, "\(code)")
            }
        }
    }

    @Test func malformedPacketGetsDisconnect0x81AndOthersKeepWorking() async throws {
        try await LiveServer.with { live in
            let (bystander, _) = try await live.connectedClient("bystander")
            try await bystander.subscribe("still/works")
            let (bad, _) = try await live.connectedClient("bad")
            // A SUBSCRIBE with reserved flags 0000 instead of 0010.
            try await bad.sendRaw([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00])
            let packets = try await bad.waitForClose()
            guard case .disconnect(let disconnect) = packets.last else {
                Issue.record("expected DISCONNECT, got \(packets)")
                return
            }
            #expect(disconnect.reasonCode == .malformedPacket)
            let (pub, _) = try await live.connectedClient("pub")
            try await pub.publish("still/works", "yes", qos: .atLeastOnce)
            #expect(try await bystander.nextPublish().payloadText == "yes")
        }
    }

    @Test func announcedOversizePacketIsRefusedBeforeItsBodyArrives() async throws {
        try await LiveServer.with { live in
            let (client, _) = try await live.connectedClient("big")
            // PUBLISH announcing 200,000 bytes (over the 146 KiB maximum): only the fixed header is sent.
            try await client.sendRaw([0x30, 0xC0, 0x9A, 0x0C])
            let packets = try await client.waitForClose()
            guard case .disconnect(let disconnect) = packets.last else {
                Issue.record("expected DISCONNECT, got \(packets)")
                return
            }
            #expect(disconnect.reasonCode == .packetTooLarge)
        }
    }

    @Test func mqtt311MalformedInputJustCloses() async throws {
        try await LiveServer.with { live in
            let (client, _) = try await live.connectedClient("v3", version: .v3_1_1)
            try await client.sendRaw([0x00, 0x00])
            let packets = try await client.waitForClose()
            #expect(packets.isEmpty)
        }
    }

    @Test func unsupportedProtocolLevelGetsReturnCode1() async throws {
        try await LiveServer.with { live in
            let client = try await live.client("lvl", version: .v3_1_1)
            // CONNECT, protocol name MQTT, level 6.
            try await client.sendRaw([0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61])
            let packets = try await client.waitForClose()
            #expect(packets == [.connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion))])
        }
    }

    @Test func secondConnectionWithTheSameClientIDTakesOver() async throws {
        try await LiveServer.with { live in
            let (first, _) = try await live.connectedClient("twin")
            let (second, connack) = try await live.connectedClient("twin")
            #expect(connack.reasonCode == .success)
            let packets = try await first.waitForClose()
            #expect(packets == [.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver,
                properties: MQTTProperties(reasonString: "another connection used the same client id")))])
            #expect(await live.events.waitFor { $0.reason == "DUPLICATE_CLIENT_ID" } != nil)
            try await second.send(.pingreq)
            #expect(try await second.next() == .pingresp)
        }
    }

    @Test func willIsPublishedWhenTheSocketDrops() async throws {
        try await LiveServer.with { live in
            let (watcher, _) = try await live.connectedClient("watcher")
            try await watcher.subscribe("wills/+")
            let (dying, _) = try await live.connectedClient("dying", version: .v3_1_1,
                will: Will(topic: "wills/dying", payload: ByteBuffer(string: "bye"), qos: .atLeastOnce))
            await dying.close()
            let will = try await watcher.nextPublish()
            #expect(will.topic == "wills/dying" && will.payloadText == "bye")
        }
    }

    @Test func retainedMessageReachesALaterSubscriber() async throws {
        try await LiveServer.with { live in
            let (pub, _) = try await live.connectedClient("pub")
            try await pub.publish("state/lamp", "on", qos: .atLeastOnce, retain: true)
            let (sub, _) = try await live.connectedClient("sub", version: .v3_1_1)
            try await sub.send(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("state/lamp", qos: .atLeastOnce)])))
            #expect(try await sub.next() == .suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1])))
            let retained = try await sub.nextPublish()
            #expect(retained.retain && retained.payloadText == "on")
        }
    }

    @Test func gracefulShutdownSendsServerShuttingDown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = PortcullisConfiguration()
        configuration.dataDirectory = directory
        configuration.mqttListen = ["127.0.0.1:0"]
        configuration.limits.connectTimeout = 300  // as LiveServer: not a test of that deadline
        let server = try PortcullisServer(configuration: configuration, logger: .init(label: "test"), eventSink: CollectingEventSink())
        let port = try await server.start()[0].port!
        let pki = TestPKI(authority: server.preparation.certificateAuthority)
        let credential = try pki.device("c")
        try await LiveServer.register(credential, in: server)
        let client = try await MQTTTestClient.open(port: port, caPEM: pki.authority.certificatePEM, credential: credential)
        try await client.connect(clientID: "c")
        try await server.stop()
        let packets = try await client.waitForClose()
        #expect(packets.first == .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown,
                                                              properties: MQTTProperties(reasonString: "server shutting down"))))
    }

    @Test func publishRateLimitDelaysButDeliversEverything() async throws {
        try await LiveServer.with(configure: { $0.limits.publishesPerSecond = 5 }) { live in
            let (sub, _) = try await live.connectedClient("sub")
            try await sub.subscribe("rate/t")
            let (pub, _) = try await live.connectedClient("pub")
            for i in 1...12 {
                try await pub.send(.publish(PublishPacket(topic: "rate/t", payload: ByteBuffer(string: "\(i)"), qos: .atLeastOnce, packetID: UInt16(i))))
            }
            var received: [String] = []
            for _ in 1...12 { received.append(try await sub.nextPublish().payloadText) }
            #expect(received == (1...12).map(String.init))
        }
    }
}

@Suite("Live flow control", .serialized)
struct LiveFlowControlTests {
    @Test func disconnectReadAfterThrottledPublishesStillCounts() async throws {
        try await LiveServer.with(configure: { $0.limits.publishesPerSecond = 2 }) { live in
            let (watcher, _) = try await live.connectedClient("watcher")
            try await watcher.subscribe("flow/#")
            let (client, _) = try await live.connectedClient("burst", version: .v3_1_1,
                will: Will(topic: "flow/will", payload: ByteBuffer(string: "lost"), qos: .atLeastOnce))
            // Six QoS 0 publishes and a DISCONNECT in one write, then the socket closes: the publishes
            // beyond the rate are held, and the DISCONNECT behind them must still be a normal disconnect.
            var bytes = ByteBuffer()
            for i in 1...6 {
                try MQTTPacketEncoder.encode(.publish(PublishPacket(topic: "flow/data", payload: ByteBuffer(string: "\(i)"))), version: .v3_1_1, into: &bytes)
            }
            try MQTTPacketEncoder.encode(.disconnect(DisconnectPacket()), version: .v3_1_1, into: &bytes)
            try await client.sendRaw(Array(bytes.readableBytesView))
            await client.close()
            var received: [String] = []
            for _ in 1...6 { received.append(try await watcher.nextPublish().payloadText) }
            #expect(received == (1...6).map(String.init))
            let log = await live.events.waitFor { $0.eventType == .disconnect && $0.clientID == "burst" }
            #expect(log?.disconnectReason == "CLIENT_INITIATED_DISCONNECT")
            #expect(try await watcher.drainUntilPing().isEmpty, "no will")
        }
    }
}

extension PublishPacket {
    var payloadText: String { String(buffer: payload) }
}
