/// Severity of an IoT log entry, with AWS's names (`LogLevel` of SetV2LoggingOptions).
public enum IoTLogLevel: Int, Sendable, Hashable, Comparable, CaseIterable {
    case debug = 0, info, warn, error, disabled

    public var awsName: String {
        switch self {
        case .debug: "DEBUG"
        case .info: "INFO"
        case .warn: "WARN"
        case .error: "ERROR"
        case .disabled: "DISABLED"
        }
    }

    public init?(awsName: String) {
        guard let level = Self.allCases.first(where: { $0.awsName == awsName.uppercased() }) else { return nil }
        self = level
    }

    public static func < (lhs: IoTLogLevel, rhs: IoTLogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One entry of the AWS IoT log (reference section 7.2), as data. The gateway adds the timestamp
/// string, trace id and account id and writes it as a JSON line.
public struct IoTLogEvent: Sendable, Hashable {
    public enum EventType: String, Sendable, Hashable {
        case connect = "Connect"
        case disconnect = "Disconnect"
        case publishIn = "Publish-In"
        case publishOut = "Publish-Out"
        case subscribe = "Subscribe"
        case unsubscribe = "Unsubscribe"
    }

    public enum Status: String, Sendable, Hashable {
        case success = "Success"
        case failure = "Failure"
    }

    public var epochMilliseconds: Int64
    public var level: IoTLogLevel
    public var eventType: EventType
    public var status: Status
    public var clientID: String?
    public var principalID: String?
    public var sourceIP: String?
    public var sourcePort: Int?
    public var topicName: String?
    /// Publish-In only: present (as "True") when the message was retained.
    public var retain: Bool
    /// Failure reason code, e.g. `DUPLICATE_CLIENT_ID`, `AUTHORIZATION_FAILURE`.
    public var reason: String?
    public var details: String?
    /// Disconnect only: the lifecycle disconnect reason.
    public var disconnectReason: String?

    public init(
        epochMilliseconds: Int64, level: IoTLogLevel, eventType: EventType, status: Status,
        clientID: String? = nil, principalID: String? = nil, sourceIP: String? = nil, sourcePort: Int? = nil,
        topicName: String? = nil, retain: Bool = false, reason: String? = nil, details: String? = nil,
        disconnectReason: String? = nil
    ) {
        self.epochMilliseconds = epochMilliseconds
        self.level = level
        self.eventType = eventType
        self.status = status
        self.clientID = clientID
        self.principalID = principalID
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
        self.topicName = topicName
        self.retain = retain
        self.reason = reason
        self.details = details
        self.disconnectReason = disconnectReason
    }
}
