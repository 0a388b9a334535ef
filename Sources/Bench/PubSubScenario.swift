import Foundation
import Histogram
import MQTTCore
import NIOCore
import NIOPosix

/// The message scenarios: point-to-point (one topic per publisher/subscriber pair), fan-in (many
/// publishers, one wildcard or shared subscription), fan-out (one publisher, many subscribers).
public struct PubSubScenario: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case p2p
        case fanIn = "fan-in"
        case fanOut = "fan-out"
    }

    public var kind: Kind
    public var target: BenchTarget
    public var publishers: Int
    public var subscribers: Int
    public var qos: QoS
    public var payloadSize: Int
    /// Per-publisher messages per second; nil for as fast as the broker accepts.
    public var rate: Double?
    public var duration: Double
    /// Fan-in only: members of a shared subscription (`$share/bench/...`) instead of one subscriber.
    public var sharedSubscription: Bool
    /// Longest wait after publishing stops for messages still in flight.
    public var drainTimeout: Double
    public var serverPID: Int32?
    public var connectConcurrency: Int
    /// QoS 0 at maximum rate: deliveries per publisher allowed in transit (sent, not yet delivered).
    public var transitWindow: Int = 1000

    public init(kind: Kind, target: BenchTarget, publishers: Int, subscribers: Int, qos: QoS, payloadSize: Int,
                rate: Double?, duration: Double, sharedSubscription: Bool = false, drainTimeout: Double = 10,
                serverPID: Int32? = nil, connectConcurrency: Int = 64) {
        self.kind = kind
        self.target = target
        self.publishers = publishers
        self.subscribers = subscribers
        self.qos = qos
        self.payloadSize = payloadSize
        self.rate = rate
        self.duration = duration
        self.sharedSubscription = sharedSubscription
        self.drainTimeout = drainTimeout
        self.serverPID = serverPID
        self.connectConcurrency = connectConcurrency
    }

    /// Limits that keep a run bounded whatever the flags say.
    public static let maximumClients = 20_000
    public static let maximumDuration = 3600.0

    public func validate() throws {
        func fail(_ message: String) throws -> Never { throw BenchTarget.Refusal(description: message) }
        if publishers < 1 || subscribers < 1 { try fail("at least one publisher and one subscriber") }
        if publishers + subscribers > Self.maximumClients { try fail("at most \(Self.maximumClients) clients") }
        if duration <= 0 || duration > Self.maximumDuration { try fail("duration must be in (0, \(Int(Self.maximumDuration))] seconds") }
        if payloadSize < MessageStamp.size || payloadSize > 256 * 1024 * 1024 {
            try fail("payload size must be at least \(MessageStamp.size) bytes (the timestamp)")
        }
        if qos == .exactlyOnce { try fail("QoS 2 is not supported by the bench") }
        if kind == .p2p && publishers != subscribers { try fail("p2p needs as many publishers as subscribers") }
        if let rate, rate <= 0 { try fail("rate must be positive") }
    }

    /// Subscribers and publishers get event loops of their own, so a thousand publishers running flat out
    /// cannot starve the subscribers of the same process (the OS shares the cores between the threads).
    public func run() async throws -> PubSubResult {
        let threads = max(1, System.coreCount)
        let subscriberGroup = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let publisherGroup = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer {
            subscriberGroup.shutdownGracefully { _ in }
            publisherGroup.shutdownGracefully { _ in }
        }
        return try await run(subscriberGroup: subscriberGroup, publisherGroup: publisherGroup)
    }

    func run(subscriberGroup: any EventLoopGroup, publisherGroup: any EventLoopGroup) async throws -> PubSubResult {
        try validate()
        let address = try target.resolve()
        let tls = try target.makeTLSContext()
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let base = "bench/\(runID)"
        let ledger = DeliveryLedger(publishers: publishers)

        func connectAll(_ count: Int, prefix: String, group: any EventLoopGroup) async throws -> [BenchClient] {
            try await withThrowingTaskGroup(of: (Int, BenchClient).self) { tasks in
                var clients = [BenchClient?](repeating: nil, count: count)
                var next = 0
                func add() {
                    let index = next
                    next += 1
                    let source = target.sourceAddresses.isEmpty ? nil
                        : try? SocketAddress(ipAddress: target.sourceAddresses[index % target.sourceAddresses.count], port: 0)
                    tasks.addTask {
                        (index, try await BenchClient.connect(target: target, address: address, tls: tls,
                                                              clientID: "\(prefix)-\(runID)-\(index)", sourceAddress: source,
                                                              ledger: ledger, group: group))
                    }
                }
                while next < min(count, connectConcurrency) { add() }
                while let (index, client) = try await tasks.next() {
                    clients[index] = client
                    if next < count { add() }
                }
                return clients.map { $0! }
            }
        }

        // Subscribers first, so nothing published is missed.
        let subscriberClients = try await connectAll(subscribers, prefix: "sub", group: subscriberGroup)
        for (index, client) in subscriberClients.enumerated() {
            let filter: String = switch kind {
            case .p2p: "\(base)/\(index)"
            case .fanIn: sharedSubscription ? "$share/bench/\(base)/+" : "\(base)/+"
            case .fanOut: base
            }
            let suback = try await client.subscribe(filter, qos: qos)
            guard suback.reasonCodes.allSatisfy({ !$0.isFailure }) else {
                throw BenchTarget.Refusal(description: "SUBSCRIBE \(filter) refused: \(suback.reasonCodes)")
            }
        }
        let publisherClients = try await connectAll(publishers, prefix: "pub", group: publisherGroup)

        let recorder = serverPID.map(UsageRecorder.init)
        recorder?.start()
        let all = subscriberClients + publisherClients
        let progress = ProgressLine()
        progress.start { elapsed in
            let sent = publisherClients.reduce(0) { $0 + $1.counters.sent.load(ordering: .relaxed) }
            let received = subscriberClients.reduce(0) { $0 + $1.counters.received.load(ordering: .relaxed) }
            return String(format: "  %4.0f s  sent %d (%.0f/s)  received %d (%.0f/s)", elapsed, sent,
                          Double(sent) / elapsed, received, Double(received) / elapsed)
        }

        let started = ContinuousClock.now
        for (index, client) in publisherClients.enumerated() {
            let topic: String = switch kind {
            case .p2p, .fanIn: "\(base)/\(index)"
            case .fanOut: base
            }
            let copies = kind == .fanOut || (kind == .fanIn && !sharedSubscription) ? subscribers : 1
            try await client.startPublishing(PublishPlan(topic: topic, qos: qos, payloadSize: payloadSize, rate: rate,
                                                         publisherID: UInt32(index), deliveriesPerMessage: copies,
                                                         transitWindow: transitWindow))
        }
        try await Task.sleep(for: .seconds(duration))
        for client in publisherClients { try await client.stopPublishing() }
        let publishing = ContinuousClock.now - started

        // Drain: wait until everything expected arrived, or nothing new arrives for a second.
        let sentTotal = publisherClients.reduce(0) { $0 + $1.counters.sent.load(ordering: .relaxed) }
        let expectedTotal = expected(sent: publisherClients.map { $0.counters.sent.load(ordering: .relaxed) })
        let drainDeadline = ContinuousClock.now + .seconds(drainTimeout)
        var last = -1
        var stableSince = ContinuousClock.now
        while ContinuousClock.now < drainDeadline {
            let received = subscriberClients.reduce(0) { $0 + $1.counters.received.load(ordering: .relaxed) }
            if received >= expectedTotal { break }
            if received != last {
                last = received
                stableSince = ContinuousClock.now
            } else if ContinuousClock.now - stableSince > .seconds(1) {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        progress.stop()
        let usage = recorder?.stop()

        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var received = 0, unique = 0, duplicates = 0
        var errors: [String: Int] = [:]
        for client in all {
            let snapshot = try await client.snapshot()
            latency.add(snapshot.latency)
            received += snapshot.received
            unique += snapshot.unique
            duplicates += snapshot.duplicates
            for error in snapshot.errors { errors[error, default: 0] += 1 }
        }
        await withTaskGroup(of: Void.self) { tasks in
            for client in all { tasks.addTask { await client.disconnect() } }
        }
        let seconds = Double(publishing.components.seconds) + Double(publishing.components.attoseconds) / 1e18
        return PubSubResult(
            scenario: kind.rawValue, qos: Int(qos.rawValue), mqttVersion: target.version.description,
            payloadSize: payloadSize, publishers: publishers, subscribers: subscribers, durationSeconds: seconds,
            sent: sentTotal, expected: expectedTotal, received: received, unique: unique,
            lost: max(0, expectedTotal - unique), duplicates: duplicates,
            sentPerSecond: Double(sentTotal) / seconds, receivedPerSecond: Double(received) / seconds,
            latencyMicroseconds: LatencySummary(latency), errors: errors, server: usage)
    }

    /// Messages the subscribers should receive in total, given what each publisher sent.
    func expected(sent: [Int]) -> Int {
        let total = sent.reduce(0, +)
        switch kind {
        case .p2p: return total
        case .fanIn: return sharedSubscription ? total : total * subscribers
        case .fanOut: return total * subscribers
        }
    }
}
