import Broker
import CivilTime
import Foundation
import Logging

/// Where IoT log entries (reference section 7) go. The default writes AWS-format JSON lines through
/// swift-log; tests install one that collects them.
public protocol IoTEventSink: Sendable {
    func record(_ event: IoTLogEvent)
}

/// Formats an `IoTLogEvent` as the JSON line AWS IoT writes to CloudWatch (`AWSIotLogsV2`).
public struct IoTLogFormatter: Sendable {
    public var accountID: String

    public init(accountID: String) {
        self.accountID = accountID
    }

    public func format(_ event: IoTLogEvent, traceID: String = UUID().uuidString.lowercased()) -> String {
        var fields: [(String, String)] = [
            ("timestamp", JSONWriter.quote(Self.timestamp(epochMilliseconds: event.epochMilliseconds))),
            ("logLevel", JSONWriter.quote(event.level.awsName)),
            ("traceId", JSONWriter.quote(traceID)),
            ("accountId", JSONWriter.quote(accountID)),
            ("status", JSONWriter.quote(event.status.rawValue)),
            ("eventType", JSONWriter.quote(event.eventType.rawValue)),
            ("protocol", JSONWriter.quote("MQTT")),
        ]
        if let v = event.topicName { fields.append(("topicName", JSONWriter.quote(v))) }
        if let v = event.clientID { fields.append(("clientId", JSONWriter.quote(v))) }
        if let v = event.principalID { fields.append(("principalId", JSONWriter.quote(v))) }
        if let v = event.sourceIP { fields.append(("sourceIp", JSONWriter.quote(v))) }
        if let v = event.sourcePort { fields.append(("sourcePort", String(v))) }
        if event.retain { fields.append(("retain", JSONWriter.quote("True"))) }
        if let v = event.reason { fields.append(("reason", JSONWriter.quote(v))) }
        if let v = event.details { fields.append(("details", JSONWriter.quote(v))) }
        if let v = event.disconnectReason { fields.append(("disconnectReason", JSONWriter.quote(v))) }
        return "{" + fields.map { "\(JSONWriter.quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, as AWS writes it.
    public static func timestamp(epochMilliseconds: Int64) -> String {
        let millis = ((epochMilliseconds % 1000) + 1000) % 1000
        let (date, secondOfDay) = CivilDate.split(secondsSince1970: (epochMilliseconds - millis) / 1000)
        func pad(_ value: Int64, _ width: Int) -> String {
            let s = String(value)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))"
    }
}

/// Writes IoT log entries through a swift-log `Logger`, as pre-formatted JSON lines.
public struct LoggingIoTEventSink: IoTEventSink {
    public let logger: Logger
    public let formatter: IoTLogFormatter

    public init(logger: Logger, accountID: String) {
        self.logger = logger
        self.formatter = IoTLogFormatter(accountID: accountID)
    }

    public func record(_ event: IoTLogEvent) {
        let level: Logger.Level = switch event.level {
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error, .disabled: .error
        }
        guard logger.logLevel <= level else { return }
        logger.log(level: level, "\(formatter.format(event))", metadata: [JSONLineLogHandler.preformattedKey: "true"])
    }
}

/// JSON string quoting shared by the log writers (the broker's, so there is one escaper).
enum JSONWriter {
    static func quote(_ string: String) -> String { JSONText.quoted(string) }
}
