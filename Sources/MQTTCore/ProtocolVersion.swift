/// The MQTT protocol level carried in CONNECT.
///
/// Level 3 (MQTT 3.1, protocol name `MQIsdp`) is decoded only so that the broker can refuse it with
/// CONNACK return code 1, as the 3.1.1 specification asks; every other packet is handled as 3.1.1 or 5.
public enum ProtocolVersion: UInt8, Sendable, Hashable, CustomStringConvertible {
    case v3_1 = 3
    case v3_1_1 = 4
    case v5 = 5

    public var description: String {
        switch self {
        case .v3_1: "3.1"
        case .v3_1_1: "3.1.1"
        case .v5: "5.0"
        }
    }

    /// The protocol name a CONNECT of this level must carry.
    public var protocolName: String {
        self == .v3_1 ? "MQIsdp" : "MQTT"
    }
}

/// Quality of service. QoS 2 exists on the wire; the broker never grants it (AWS IoT Core has none).
public enum QoS: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "\(rawValue)" }
}
