import Foundation
import Histogram
import NIOCore
import NIOPosix

/// Opens N connections at a target rate, holds them, closes them: handshakes per second, connect
/// latency (TCP + TLS + CONNECT/CONNACK), failures by cause, and with `--server-pid` the server's
/// memory per idle connection.
public struct ConnScenario: Sendable {
    public var target: BenchTarget
    public var count: Int
    /// Connections started per second; nil for as fast as possible (bounded by `concurrency`).
    public var rate: Double?
    public var hold: Double
    public var concurrency: Int
    public var serverPID: Int32?

    public init(target: BenchTarget, count: Int, rate: Double?, hold: Double, concurrency: Int = 256, serverPID: Int32? = nil) {
        self.target = target
        self.count = count
        self.rate = rate
        self.hold = hold
        self.concurrency = concurrency
        self.serverPID = serverPID
    }

    public static let maximumConnections = 200_000

    public func run(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> ConnResult {
        guard count >= 1, count <= Self.maximumConnections else {
            throw BenchTarget.Refusal(description: "count must be 1...\(Self.maximumConnections)")
        }
        guard hold >= 0, hold <= 3600 else { throw BenchTarget.Refusal(description: "hold must be 0...3600 seconds") }
        let address = try target.resolve()
        let tls = try target.makeTLSContext()
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        // Settle, then take the baseline the per-connection memory figure is measured against.
        let baseline = serverPID.flatMap { ProcessSampler.sample(pid: $0) }
        let recorder = serverPID.map(UsageRecorder.init)
        recorder?.start()

        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        var failures: [String: Int] = [:]
        var clients: [BenchClient] = []
        clients.reserveCapacity(count)
        let started = ContinuousClock.now
        let progress = ProgressLine()
        let connectedCounter = LiveCounters()
        progress.start { elapsed in
            let done = connectedCounter.sent.load(ordering: .relaxed)
            return String(format: "  %4.0f s  connected %d/%d (%.0f/s)", elapsed, done, count, Double(done) / elapsed)
        }
        func record(_ result: Result<(BenchClient, UInt64), any Error>) {
            switch result {
            case .success(let (client, micros)):
                clients.append(client)
                _ = latency.record(micros)
                connectedCounter.sent.add(1, ordering: .relaxed)
            case .failure(let error):
                failures[Self.cause(error), default: 0] += 1
            }
        }
        try await withThrowingTaskGroup(of: Result<(BenchClient, UInt64), any Error>.self) { tasks in
            var next = 0
            var inFlight = 0
            while next < count {
                if inFlight >= concurrency, let result = try await tasks.next() {
                    inFlight -= 1
                    record(result)
                    continue
                }
                if let rate {
                    // Connection k starts k / rate seconds after the first.
                    let due = started + .microseconds(Int64(Double(next) / rate * 1_000_000))
                    if ContinuousClock.now < due {
                        try await Task.sleep(until: due)
                        continue
                    }
                }
                let index = next
                next += 1
                inFlight += 1
                let source = target.sourceAddresses.isEmpty ? nil
                    : try? SocketAddress(ipAddress: target.sourceAddresses[index % target.sourceAddresses.count], port: 0)
                tasks.addTask {
                    let begin = ContinuousClock.now
                    do {
                        let client = try await BenchClient.connect(target: target, address: address, tls: tls,
                                                                   clientID: "conn-\(runID)-\(index)", sourceAddress: source, group: group)
                        let elapsed = ContinuousClock.now - begin
                        let micros = UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
                        return .success((client, micros))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            while let result = try await tasks.next() { record(result) }
        }
        let connecting = ContinuousClock.now - started
        progress.stop()
        let seconds = Double(connecting.components.seconds) + Double(connecting.components.attoseconds) / 1e18
        try await Task.sleep(for: .seconds(hold))
        let held = serverPID.flatMap { ProcessSampler.sample(pid: $0) }
        await withTaskGroup(of: Void.self) { tasks in
            for chunk in stride(from: 0, to: clients.count, by: 500) {
                let slice = Array(clients[chunk..<min(chunk + 500, clients.count)])
                tasks.addTask { for client in slice { await client.disconnect() } }
            }
        }
        let usage = recorder?.stop()
        var perConnection: Double?
        if let baseline, let held, !clients.isEmpty {
            perConnection = Double(held.residentBytes - baseline.residentBytes) / Double(clients.count)
        }
        return ConnResult(requested: count, connected: clients.count, failures: failures,
                          connectsPerSecond: Double(clients.count) / seconds, latencyMicroseconds: LatencySummary(latency),
                          holdSeconds: hold, server: usage, serverBytesPerConnection: perConnection)
    }

    /// A short failure cause for grouping.
    static func cause(_ error: any Error) -> String {
        if let failure = error as? BenchClient.Failure { return failure.description }
        let text = "\(error)"
        if text.contains("connectTimeout") || text.contains("timeout") { return "timeout" }
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        if text.contains("EADDRNOTAVAIL") || text.contains("Cannot assign") { return "no local port (EADDRNOTAVAIL)" }
        if text.contains("EMFILE") || text.contains("Too many open files") { return "too many open files (EMFILE)" }
        if text.contains("SSL") || text.contains("TLS") || text.contains("handshake") { return "TLS handshake" }
        if text.contains("closed") { return "closed by server" }
        return String(text.prefix(60))
    }
}
