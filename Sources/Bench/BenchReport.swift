import Foundation
import Histogram

/// Latency percentiles in microseconds.
public struct LatencySummary: Sendable, Codable {
    public var count: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
    public var mean: Double

    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
        mean = histogram.totalCount > 0 ? histogram.mean : 0
    }

    var text: String {
        "p50 \(Self.format(p50))  p90 \(Self.format(p90))  p99 \(Self.format(p99))  p99.9 \(Self.format(p999))  max \(Self.format(max))"
    }

    static func format(_ micros: UInt64) -> String {
        micros >= 10_000 ? String(format: "%.1f ms", Double(micros) / 1000) : "\(micros) µs"
    }
}

/// The result of a message scenario.
public struct PubSubResult: Sendable, Codable {
    public var scenario: String
    public var qos: Int
    public var mqttVersion: String
    public var payloadSize: Int
    public var publishers: Int
    public var subscribers: Int
    public var durationSeconds: Double
    public var sent: Int
    public var expected: Int
    public var received: Int
    public var unique: Int
    public var lost: Int
    public var duplicates: Int
    public var sentPerSecond: Double
    public var receivedPerSecond: Double
    public var latencyMicroseconds: LatencySummary
    public var errors: [String: Int]
    public var server: ServerUsage?

    public var summary: String {
        var lines = [
            "\(scenario) QoS \(qos) MQTT \(mqttVersion), \(payloadSize) B payloads, \(publishers) publishers, \(subscribers) subscribers, \(String(format: "%.1f", durationSeconds)) s",
            "  sent      \(sent) (\(Int(sentPerSecond)) msg/s)",
            "  received  \(received) (\(Int(receivedPerSecond)) msg/s), expected \(expected), lost \(lost), duplicates \(duplicates)",
            "  latency   \(latencyMicroseconds.text)",
        ]
        if let server { lines.append(server.line) }
        if !errors.isEmpty { lines.append("  errors    \(errors.map { "\($0.key) x\($0.value)" }.sorted().joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}

/// The result of the connection scenario.
public struct ConnResult: Sendable, Codable {
    public var requested: Int
    public var connected: Int
    public var failures: [String: Int]
    public var connectsPerSecond: Double
    public var latencyMicroseconds: LatencySummary
    public var holdSeconds: Double
    public var server: ServerUsage?
    /// Server resident memory added per connected idle connection.
    public var serverBytesPerConnection: Double?

    public var summary: String {
        var lines = [
            "conn: \(connected)/\(requested) connected at \(Int(connectsPerSecond))/s, held \(String(format: "%.0f", holdSeconds)) s",
            "  connect latency  \(latencyMicroseconds.text)",
        ]
        if !failures.isEmpty { lines.append("  failures  \(failures.map { "\($0.key) x\($0.value)" }.sorted().joined(separator: ", "))") }
        if let server {
            lines.append("  server    CPU \(Int(server.cpuPercent))%, RSS \(server.residentBytesStart / 1_048_576) -> \(server.residentBytesPeak / 1_048_576) MiB")
        }
        if let perConnection = serverBytesPerConnection {
            lines.append("  server memory per idle connection: \(Int(perConnection)) bytes")
        }
        return lines.joined(separator: "\n")
    }
}

enum JSONOutput {
    static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    }
}

/// A live progress line on a terminal, once a second.
final class ProgressLine: @unchecked Sendable {
    private var task: Task<Void, Never>?
    let enabled = isatty(2) == 1

    func start(_ describe: @escaping @Sendable (Double) -> String) {
        guard enabled else { return }
        let start = Date()
        task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { break }
                let line = describe(Date().timeIntervalSince(start))
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            }
        }
    }

    func stop() {
        task?.cancel()
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
