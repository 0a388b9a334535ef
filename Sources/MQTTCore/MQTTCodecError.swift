/// Why bytes could not be decoded (or a packet encoded). Carries the MQTT 5 reason code the spec asks
/// the receiver to answer with (DISCONNECT or CONNACK); a 3.1.1 peer is simply disconnected.
public struct MQTTCodecError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// 0x81: the bytes do not follow the packet grammar.
        case malformedPacket
        /// 0x82: well-formed, but breaks a rule of the protocol.
        case protocolError
        /// 0x95: the fixed header announces more bytes than the receiver accepts.
        case packetTooLarge
        /// CONNECT with a protocol level or name this server does not speak.
        case unsupportedProtocolVersion
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var reasonCode: ReasonCode {
        switch kind {
        case .malformedPacket: .malformedPacket
        case .protocolError: .protocolError
        case .packetTooLarge: .packetTooLarge
        case .unsupportedProtocolVersion: .unsupportedProtocolVersion
        }
    }

    public var description: String { "\(reasonCode): \(message)" }

    public static func malformed(_ message: String) -> MQTTCodecError { .init(.malformedPacket, message) }
    public static func protocolError(_ message: String) -> MQTTCodecError { .init(.protocolError, message) }
    public static func packetTooLarge(_ message: String) -> MQTTCodecError { .init(.packetTooLarge, message) }
}
