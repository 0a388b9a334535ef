import Bench
import Foundation
import MQTTCore
import PortcullisTesting
import Testing

/// The bench tool's own correctness on small bounded runs against the real server: every message is
/// counted, latency is recorded for each, losses and refusals are reported. No timing is asserted.
@Suite("portcullis bench", .serialized)
struct BenchToolTests {
    /// Writes a device credential and the CA to files, as the bench takes them (in the server's data
    /// folder, which goes with it: no key is left behind in the temporary directory).
    func files(_ live: LiveServer) async throws -> BenchTarget.TLS {
        let directory = URL(fileURLWithPath: live.dataDirectory).appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let credential = try live.pki.device("bench")
        try await live.register(credential)
        let ca = directory.appendingPathComponent("ca.pem").path
        let cert = directory.appendingPathComponent("bench.pem").path
        let key = directory.appendingPathComponent("bench.key").path
        try live.caPEM.write(toFile: ca, atomically: true, encoding: .utf8)
        try credential.certificatePEM.write(toFile: cert, atomically: true, encoding: .utf8)
        try credential.privateKeyPEM.write(toFile: key, atomically: true, encoding: .utf8)
        return BenchTarget.TLS(caFile: ca, certificateFile: cert, keyFile: key, serverName: "localhost")
    }

    /// The shadow scenario's closed loop: every update sent is answered (accepted), versions are durable.
    @Test func shadowScenarioCountsAnsweredUpdates() async throws {
        try await LiveServer.with(configure: { $0.limits.publishesPerSecond = 0; $0.limits.bytesPerSecond = 0 }) { live in
            let target = BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: try await files(live))
            let result = try await ShadowScenario(target: target, things: 2, window: 3, duration: 0.5).run()
            #expect(result.accepted > 0 && result.rejected == 0, "\(result.errors)")
            #expect(result.sent >= result.accepted && result.sent - result.accepted <= 2 * 3, "at most the window is unanswered at the end")
            #expect(result.latencyMicroseconds.count == UInt64(result.accepted))
        }
        #expect(throws: BenchTarget.Refusal.self) {
            try ShadowScenario(target: BenchTarget(host: "127.0.0.1", port: 1, version: .v5, tls: nil), things: 1, window: 11, duration: 1).validate()
        }
    }

    @Test(arguments: [(PubSubScenario.Kind.p2p, QoS.atLeastOnce, 3, 3), (.fanOut, .atMostOnce, 1, 4), (.fanIn, .atLeastOnce, 4, 1)])
    func messageScenarioCountsEveryMessage(kind: PubSubScenario.Kind, qos: QoS, publishers: Int, subscribers: Int) async throws {
        try await LiveServer.with(configure: { $0.limits.publishesPerSecond = 0; $0.limits.bytesPerSecond = 0 }) { live in
            let target = BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: try await files(live))
            let scenario = PubSubScenario(kind: kind, target: target, publishers: publishers, subscribers: subscribers, qos: qos,
                                          payloadSize: 100, rate: 40, duration: 0.5, drainTimeout: 30)
            let result = try await scenario.run()
            #expect(result.sent > 0)
            let perMessage = kind == .fanOut ? subscribers : 1
            #expect(result.expected == result.sent * perMessage)
            #expect(result.received == result.expected)
            #expect(result.unique == result.expected && result.lost == 0 && result.duplicates == 0)
            #expect(result.latencyMicroseconds.count == UInt64(result.received), "a latency per delivered message")
            #expect(result.latencyMicroseconds.max >= result.latencyMicroseconds.p50)
            #expect(result.errors.isEmpty)
        }
    }

    @Test func sharedFanInSplitsAndStillCountsEveryMessage() async throws {
        try await LiveServer.with(configure: { $0.limits.publishesPerSecond = 0 }) { live in
            let target = BenchTarget(host: "127.0.0.1", port: live.port, version: .v3_1_1, tls: try await files(live))
            let result = try await PubSubScenario(kind: .fanIn, target: target, publishers: 3, subscribers: 2, qos: .atLeastOnce,
                                                  payloadSize: 64, rate: 30, duration: 0.5, sharedSubscription: true).run()
            #expect(result.expected == result.sent)
            #expect(result.unique == result.sent && result.lost == 0)
        }
    }

    /// Back pressure over real sockets: 25 publishers at full speed into one subscriber whose queue holds
    /// 20. Held publishers are released one at a time, so nothing is dropped; with back pressure off the
    /// same run loses messages, which shows the check can fail.
    @Test(arguments: [true, false])
    func fullSpeedFanInIntoASmallQueueLosesNothingAtQoS1(backPressure: Bool) async throws {
        try await LiveServer.with(configure: {
            $0.limits.publishesPerSecond = 0
            $0.limits.bytesPerSecond = 0
            $0.limits.maximumQueuedMessages = 20
            if !backPressure { $0.limits.backPressureTimeoutMilliseconds = 0 }
        }) { live in
            let target = BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: try await files(live))
            let result = try await PubSubScenario(kind: .fanIn, target: target, publishers: 25, subscribers: 1, qos: .atLeastOnce,
                                                  payloadSize: 64, rate: nil, duration: 1, drainTimeout: 10).run()
            #expect(result.sent > 500, "enough to fill the queue many times over")
            if backPressure {
                #expect(result.lost == 0 && result.unique == result.sent && result.duplicates == 0)
            } else {
                #expect(result.lost > 0, "without back pressure the queue limit drops messages")
            }
        }
    }

    @Test func lossIsReportedWhenTheBrokerDropsMessages() async throws {
        // A payload above the broker's limit is refused (DISCONNECT 0x95): nothing arrives, and the bench
        // says so instead of reporting a clean run.
        try await LiveServer.with(configure: { $0.limits.maximumPayloadSize = 50 }) { live in
            let target = BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: try await files(live))
            let result = try await PubSubScenario(kind: .p2p, target: target, publishers: 1, subscribers: 1, qos: .atMostOnce,
                                                  payloadSize: 100, rate: 20, duration: 0.3, drainTimeout: 1).run()
            #expect(result.sent > 0)
            #expect(result.received == 0)
            #expect(result.lost == result.expected)
            #expect(result.errors.keys.contains { $0.contains("Packet too large") })
        }
    }

    @Test func connScenarioCountsConnectionsAndFailures() async throws {
        try await LiveServer.with { live in
            let tls = try await files(live)
            let result = try await ConnScenario(target: BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: tls),
                                                count: 12, rate: nil, hold: 0, concurrency: 4).run()
            #expect(result.connected == 12 && result.failures.isEmpty)
            #expect(result.latencyMicroseconds.count == 12)

            // Without a client certificate every handshake is refused, and counted as a failure.
            var anonymous = tls
            anonymous.certificateFile = nil
            anonymous.keyFile = nil
            let refused = try await ConnScenario(target: BenchTarget(host: "127.0.0.1", port: live.port, version: .v5, tls: anonymous),
                                                 count: 3, rate: nil, hold: 0).run()
            #expect(refused.connected == 0)
            #expect(refused.failures.values.reduce(0, +) == 3)
        }
    }

    @Test func remoteTargetsAreRefusedUnlessAllowed() throws {
        #expect(throws: BenchTarget.Refusal.self) { try BenchTarget(host: "192.0.2.1", port: 8883, version: .v5, tls: nil).resolve() }
        #expect(throws: Never.self) { try BenchTarget(host: "192.0.2.1", port: 8883, version: .v5, tls: nil, allowRemote: true).resolve() }
        #expect(throws: Never.self) { try BenchTarget(host: "127.0.0.1", port: 8883, version: .v5, tls: nil).resolve() }
    }

    @Test func runsAreBounded() {
        let target = BenchTarget(host: "127.0.0.1", port: 1, version: .v5, tls: nil)
        for scenario in [
            PubSubScenario(kind: .p2p, target: target, publishers: 2, subscribers: 3, qos: .atMostOnce, payloadSize: 64, rate: nil, duration: 1),
            PubSubScenario(kind: .p2p, target: target, publishers: 1, subscribers: 1, qos: .atMostOnce, payloadSize: 64, rate: nil, duration: 7200),
            PubSubScenario(kind: .fanIn, target: target, publishers: 30_000, subscribers: 1, qos: .atMostOnce, payloadSize: 64, rate: nil, duration: 1),
            PubSubScenario(kind: .p2p, target: target, publishers: 1, subscribers: 1, qos: .atMostOnce, payloadSize: 8, rate: nil, duration: 1),
            PubSubScenario(kind: .p2p, target: target, publishers: 1, subscribers: 1, qos: .exactlyOnce, payloadSize: 64, rate: nil, duration: 1),
        ] {
            #expect(throws: BenchTarget.Refusal.self) { try scenario.validate() }
        }
    }
}
