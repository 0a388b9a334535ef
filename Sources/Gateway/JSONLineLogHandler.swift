import Foundation
import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that writes one JSON object per line: IoT log entries verbatim (they are
/// already in AWS's format), everything else as `{"timestamp","logLevel","logger","message",...}`.
public struct JSONLineLogHandler: LogHandler {
    /// Metadata key marking a message that is already a JSON object.
    public static let preformattedKey = "portcullis.preformatted"

    /// Serializes writes from all threads so lines never interleave.
    final class Output: @unchecked Sendable {
        let lock = NIOLock()
        let handle: FileHandle
        init(_ handle: FileHandle) { self.handle = handle }
        func write(_ line: String) {
            let data = Data((line + "\n").utf8)
            lock.withLock { handle.write(data) }
        }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let output: Output

    public init(label: String, level: Logger.Level, fileHandle: FileHandle = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.output = Output(fileHandle)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        if event.metadata?[Self.preformattedKey] != nil {
            output.write(event.message.description)
            return
        }
        var fields = [
            "\"timestamp\":" + JSONWriter.quote(IoTLogFormatter.timestamp(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))),
            "\"logLevel\":" + JSONWriter.quote(event.level.rawValue.uppercased()),
            "\"logger\":" + JSONWriter.quote(label),
            "\"message\":" + JSONWriter.quote(event.message.description),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            fields.append(JSONWriter.quote(key) + ":" + JSONWriter.quote("\(merged[key]!)"))
        }
        output.write("{" + fields.joined(separator: ",") + "}")
    }
}
