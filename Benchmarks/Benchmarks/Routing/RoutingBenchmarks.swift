import Benchmark
import Broker
import Foundation
import IoTPolicy
import MQTTCore
import NIOCore

/// The broker core on its hot path, through its public API: one PUBLISH in, the actions out.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .instructions],
        warmupIterations: 100,
        maxDuration: .seconds(3)
    )

    var limits = BrokerLimits.unthrottled
    limits.maximumSubscriptionsPerConnection = 1000

    /// A broker with `clients` connected sessions, each with `filtersPerClient` subscriptions.
    func makeBroker(clients: Int, authorizer: (any BrokerAuthorizer)? = nil, filters: (Int) -> [String]) -> (Broker, ConnectionID, BrokerInstant) {
        let broker = Broker(limits: limits, logLevel: .error, authorizer: authorizer)
        let now = BrokerInstant(uptimeNanoseconds: 1_000_000_000, epochMilliseconds: 1_700_000_000_000)
        for i in 0...clients {
            let id = ConnectionID(UInt64(i + 1))
            _ = broker.accept(ConnectionInfo(id: id, principalID: "p", sourceIP: "127.0.0.1", sourcePort: i, sessionIdentifier: "s"), at: now)
            _ = broker.receive(.connect(ConnectPacket(protocolVersion: .v5, clientID: "c\(i)")), from: id, at: now)
            guard i > 0 else { continue }
            for (n, chunk) in filters(i).chunked(8).enumerated() {
                _ = broker.receive(.subscribe(SubscribePacket(packetID: UInt16(n + 1), subscriptions: chunk.map { TopicSubscription($0, qos: .atMostOnce) })), from: id, at: now)
            }
        }
        return (broker, ConnectionID(1), now)
    }

    // 10,000 sessions x 10 filters = 100,000 subscriptions, mixed literal and wildcard; one matches.
    let (large, publisher, now) = makeBroker(clients: 10_000) { i in
        (0..<10).map { n in
            switch n % 3 {
            case 0: "site/\(i)/device/\(n)/telemetry"
            case 1: "site/\(i)/+/\(n)/status"
            default: "site/\(i)/device/\(n)/#"
            }
        }
    }
    let payload = ByteBuffer(repeating: 0x2E, count: 64)
    Benchmark("route one PUBLISH among 100,000 subscriptions (1 match)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(large.receive(.publish(PublishPacket(topic: "site/5000/device/3/telemetry", payload: payload)), from: publisher, at: now))
        }
    }

    // 1,000 subscribers of one topic.
    let (fanOut, fanOutPublisher, fanOutNow) = makeBroker(clients: 1000) { _ in ["fan/out/topic"] }
    Benchmark("route one PUBLISH to 1,000 subscribers, QoS 0") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(fanOut.receive(.publish(PublishPacket(topic: "fan/out/topic", payload: payload)), from: fanOutPublisher, at: fanOutNow))
        }
    }

    // Point to point: one subscriber, QoS 1 (packet id, in-flight bookkeeping, PUBACK back); without
    // authorization, with an allow-all policy, and with ten policies of which only the last allows
    // (Publish checked for the publisher, Receive for the subscriber: both cached after the first).
    let subscriber = ConnectionID(2)
    for (label, authorizer) in [(", 10 policies", PolicyBenchAuthorizer(policies: 10)), ("", nil),
                                (", 1 allow-all policy", PolicyBenchAuthorizer(policies: 1))] as [(String, PolicyBenchAuthorizer?)] {
        let (p2p, p2pPublisher, p2pNow) = makeBroker(clients: 1, authorizer: authorizer) { _ in ["p2p/0"] }
        Benchmark("route one PUBLISH point to point, QoS 1, with its PUBACK\(label)") { benchmark in
            var packetID: UInt16 = 1
            for _ in benchmark.scaledIterations {
                let actions = p2p.receive(.publish(PublishPacket(topic: "p2p/0", payload: payload, qos: .atLeastOnce, packetID: 1)),
                                          from: p2pPublisher, at: p2pNow)
                for case .send(let target, .publish(let delivered)) in actions where target == subscriber {
                    packetID = delivered.packetID ?? packetID
                }
                blackHole(p2p.receive(.puback(AckPacket(packetID: packetID)), from: subscriber, at: p2pNow))
            }
        }
    }
}

/// The gateway's authorizer in miniature (the real one reads the registry): every connection gets the
/// same policies, compiled against its client id, decisions cached per action and resource.
final class PolicyBenchAuthorizer: BrokerAuthorizer {
    static let arn = "arn:aws:iot:us-east-1:123456789012"
    let policies: [NamedPolicy]

    init(policies count: Int) {
        func policy(_ name: String, _ statements: String) -> NamedPolicy {
            NamedPolicy(name: name, versionID: "1", document: try! PolicyDocument.parse(#"{"Version":"2012-10-17","Statement":[\#(statements)]}"#))
        }
        let arn = Self.arn
        let allow = count == 1
            ? policy("all", #"{"Effect":"Allow","Action":"iot:*","Resource":"*"}"#)
            : policy("p2p", #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/c*"},
                {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/p2p/*"},
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/p2p/*"},
                {"Effect":"Deny","Action":"iot:Publish","Resource":"\#(arn):topic/p2p/*/forbidden"}
                """#)
        let others = (0..<(count - 1)).map { n in
            policy("other-\(n)", #"""
                {"Effect":"Allow","Action":"iot:Connect","Resource":"\#(arn):client/fleet\#(n)-${iot:ClientId}"},
                {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"\#(arn):topic/fleet\#(n)/${iot:ClientId}/*"},
                {"Effect":"Allow","Action":"iot:Subscribe","Resource":"\#(arn):topicfilter/fleet\#(n)/${iot:ClientId}/*"}
                """#)
        }
        self.policies = others + [allow]
    }

    final class Authorization: ConnectionAuthorization {
        let authorizer: ConnectionAuthorizer
        init(_ authorizer: ConnectionAuthorizer) { self.authorizer = authorizer }
        func decide(_ action: DeviceAction, _ resource: String, at now: BrokerInstant) -> AuthorizationVerdict {
            let iotAction: IoTAction = switch action {
            case .connect: .connect
            case .publish: .publish
            case .retainPublish: .retainPublish
            case .subscribe: .subscribe
            case .receive: .receive
            }
            let decision = authorizer.decide(iotAction, name: resource, now: Date(timeIntervalSince1970: Double(now.epochMilliseconds) / 1000))
            return decision.isAllowed ? .allowed : .denied("denied")
        }
    }

    func authorization(for request: ConnectAuthorizationRequest) -> any ConnectionAuthorization {
        var context = AuthorizationContext()
        context.set("iot:ClientId", request.clientID)
        return Authorization(ConnectionAuthorizer(policies: CompiledPolicySet(policies: policies, context: context), arnPrefix: Self.arn + ":"))
    }

    func refreshed(_ current: any ConnectionAuthorization, for request: ConnectAuthorizationRequest) -> (any ConnectionAuthorization)? { nil }
    func isCurrent(_ authorization: any ConnectionAuthorization) -> Bool { true }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
