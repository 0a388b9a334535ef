import Foundation

/// Samples a process's CPU time and resident memory from /proc (Linux), for `--server-pid`.
public struct ProcessSample: Sendable, Codable {
    /// User plus system CPU seconds since the process started.
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var at: Double
}

public enum ProcessSampler {
    public static func sample(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        // Fields after the command name, which is in parentheses and may contain spaces.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            rss = (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, residentBytes: rss,
                             at: Date().timeIntervalSince1970)
    }
}

/// Server figures over a run.
public struct ServerUsage: Sendable, Codable {
    public var cpuPercent: Double
    public var residentBytesStart: Int
    public var residentBytesPeak: Int
    public var residentBytesEnd: Int

    /// The summary's `server` line.
    var line: String { "  server    CPU \(Int(cpuPercent))%, RSS \(residentBytesStart / 1_048_576) -> peak \(residentBytesPeak / 1_048_576) MiB" }
}

/// Samples once a second in the background until stopped.
final class UsageRecorder: @unchecked Sendable {
    private let pid: Int32
    private var samples: [ProcessSample] = []
    private var task: Task<Void, Never>?
    private let lock = NSLock()

    init(pid: Int32) { self.pid = pid }

    func start() {
        record()
        task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self?.record()
            }
        }
    }

    private func record() {
        guard let sample = ProcessSampler.sample(pid: pid) else { return }
        lock.lock()
        samples.append(sample)
        lock.unlock()
    }

    func stop() -> ServerUsage? {
        task?.cancel()
        record()
        lock.lock()
        defer { lock.unlock() }
        guard let first = samples.first, let last = samples.last else { return nil }
        let elapsed = last.at - first.at
        return ServerUsage(
            cpuPercent: elapsed > 0 ? (last.cpuSeconds - first.cpuSeconds) / elapsed * 100 : 0,
            residentBytesStart: first.residentBytes,
            residentBytesPeak: samples.map(\.residentBytes).max() ?? 0,
            residentBytesEnd: last.residentBytes)
    }
}
