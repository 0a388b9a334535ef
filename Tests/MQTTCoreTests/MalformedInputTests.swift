import NIOCore
import Testing

@testable import MQTTCore

/// Bytes that cannot be a valid packet, and the kind of error each must raise: Malformed Packet for grammar
/// violations, Protocol Error for well-formed breaches of a rule, Packet Too Large for the size limit, and
/// Unsupported Protocol Version for a CONNECT of a level we do not speak.
@Suite("Malformed input")
struct MalformedInputTests {
    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        /// nil: a fresh server-side decoder that has not seen CONNECT.
        var version: ProtocolVersion?
        var bytes: [UInt8]
        var kind: MQTTCodecError.Kind
        var testDescription: String { "\(version.map { "\($0)" } ?? "server") \(name)" }

        init(_ name: String, _ version: ProtocolVersion?, _ bytes: [UInt8], _ kind: MQTTCodecError.Kind) {
            self.name = name
            self.version = version
            self.bytes = bytes
            self.kind = kind
        }
    }

    static let v3: ProtocolVersion = .v3_1_1
    static let v5: ProtocolVersion = .v5

    /// A v3.1.1 CONNECT with the given flags and payload.
    static func connect3(flags: UInt8 = 0x02, name: String = "MQTT", level: UInt8 = 4,
                         payload: [UInt8] = str("a")) -> [UInt8] {
        rawPacket(0x10, connectHeader(name: name, level: level, flags: flags) + payload)
    }

    /// A v5 CONNECT with the given flags, CONNECT property fields and payload (after the client id).
    static func connect5(flags: UInt8 = 0x02, properties: [UInt8] = [], clientID: [UInt8] = str("a"),
                         rest: [UInt8] = []) -> [UInt8] {
        rawPacket(0x10, connectHeader(level: 5, flags: flags) + props(properties) + clientID + rest)
    }

    /// A v5 CONNECT with a will whose properties are `willProperties`.
    static func connect5(willProperties: [UInt8]) -> [UInt8] {
        connect5(flags: 0x06, rest: props(willProperties) + str("w") + str("x"))
    }

    /// A v5 QoS 0 PUBLISH to "t" with the given property fields.
    static func publish5(_ properties: [UInt8]) -> [UInt8] {
        rawPacket(0x30, str("t") + props(properties))
    }

    /// A v5 CONNACK (success) with the given property fields.
    static func connack5(_ properties: [UInt8]) -> [UInt8] {
        rawPacket(0x20, [0x00, 0x00] + props(properties))
    }

    /// A v5 SUBSCRIBE of "a" with the given property fields and options byte.
    static func subscribe5(_ properties: [UInt8] = [], options: UInt8 = 0x01) -> [UInt8] {
        rawPacket(0x82, u16(1) + props(properties) + str("a") + [options])
    }

    static let invalidUTF8: [(String, [UInt8])] = [
        ("overlong NUL C0 80", [0xC0, 0x80]),
        ("lone continuation byte", [0x80]),
        ("encoded surrogate ED A0 80", [0xED, 0xA0, 0x80]),
        ("U+0000", [0x61, 0x00, 0x62]),
        ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
        ("truncated sequence", [0x61, 0xE2, 0x82]),
        ("byte FF", [0xFF]),
        ("overlong slash C0 AF", [0xC0, 0xAF]),
    ]

    static let fixedHeader: [Malformed] = [
        .init("remaining length with a fifth continuation byte", v5, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], .malformedPacket),
        .init("remaining length: fourth byte continues", v3, [0x30, 0x80, 0x80, 0x80, 0x80], .malformedPacket),
        .init("remaining length too long, server decoder", nil, [0x10, 0x80, 0x80, 0x80, 0x80, 0x01], .malformedPacket),
        .init("packet type 0", v3, [0x00, 0x00], .malformedPacket),
        .init("packet type 0", v5, [0x00, 0x00], .malformedPacket),
        .init("packet type 0 as the first packet", nil, [0x00, 0x00], .malformedPacket),
        .init("CONNECT flags 0001", nil, [0x11] + connect3().dropFirst(), .malformedPacket),
        .init("CONNECT flags 0010 after CONNECT", v3, [0x12] + connect3().dropFirst(), .malformedPacket),
        .init("CONNACK flags 0001", v3, [0x21, 0x02, 0x00, 0x00], .malformedPacket),
        .init("PUBACK flags 0010", v3, [0x42, 0x02, 0x00, 0x01], .malformedPacket),
        .init("PUBREC flags 0010", v5, [0x52, 0x02, 0x00, 0x01], .malformedPacket),
        .init("PUBREL flags 0000", v3, [0x60, 0x02, 0x00, 0x01], .malformedPacket),
        .init("PUBREL flags 0011", v5, [0x63, 0x02, 0x00, 0x01], .malformedPacket),
        .init("PUBCOMP flags 0010", v3, [0x72, 0x02, 0x00, 0x01], .malformedPacket),
        .init("SUBSCRIBE flags 0000", v3, rawPacket(0x80, u16(1) + str("a") + [0x00]), .malformedPacket),
        .init("SUBSCRIBE flags 0011", v5, [0x83] + subscribe5().dropFirst(), .malformedPacket),
        .init("SUBACK flags 0010", v3, [0x92, 0x03, 0x00, 0x01, 0x00], .malformedPacket),
        .init("UNSUBSCRIBE flags 0000", v3, rawPacket(0xA0, u16(1) + str("a")), .malformedPacket),
        .init("UNSUBSCRIBE flags 1010", v5, rawPacket(0xAA, u16(1) + [0x00] + str("a")), .malformedPacket),
        .init("UNSUBACK flags 0010", v3, [0xB2, 0x02, 0x00, 0x01], .malformedPacket),
        .init("PINGREQ flags 0010", v3, [0xC2, 0x00], .malformedPacket),
        .init("PINGRESP flags 1000", v5, [0xD8, 0x00], .malformedPacket),
        .init("DISCONNECT flags 0001", v3, [0xE1, 0x00], .malformedPacket),
        .init("DISCONNECT flags 0010", v5, [0xE2, 0x00], .malformedPacket),
        .init("AUTH flags 0010", v5, [0xF2, 0x00], .malformedPacket),
    ]

    static let connect: [Malformed] = [
        .init("CONNECT reserved flag", nil, connect3(flags: 0x03), .malformedPacket),
        .init("CONNECT reserved flag", nil, connect5(flags: 0x01), .malformedPacket),
        .init("Will QoS 3", nil, connect3(flags: 0x1E, payload: str("a") + str("w") + str("x")), .malformedPacket),
        .init("Will Retain without Will Flag", nil, connect3(flags: 0x22), .malformedPacket),
        .init("Will QoS without Will Flag", nil, connect3(flags: 0x0A), .malformedPacket),
        .init("Will QoS without Will Flag", nil, connect5(flags: 0x12), .malformedPacket),
        .init("password without user name", nil, connect3(flags: 0x42, payload: str("a") + str("pw")), .malformedPacket),
        .init("protocol name MQTX", nil, connect3(name: "MQTX"), .malformedPacket),
        .init("protocol name mqtt", nil, connect3(name: "mqtt"), .malformedPacket),
        .init("empty protocol name", nil, connect3(name: ""), .malformedPacket),
        .init("MQTT level 6", nil, connect3(level: 6), .unsupportedProtocolVersion),
        .init("MQTT level 3", nil, connect3(level: 3), .unsupportedProtocolVersion),
        .init("MQTT level 0", nil, connect3(level: 0), .unsupportedProtocolVersion),
        .init("MQIsdp level 4", nil, connect3(name: "MQIsdp", level: 4), .unsupportedProtocolVersion),
        .init("MQTT level 6 on a client decoder", v5, connect3(level: 6), .unsupportedProtocolVersion),
        .init("no client identifier", nil, connect3(payload: []), .malformedPacket),
        .init("client identifier longer than the packet", nil, connect3(payload: u16(16) + [0x61]), .malformedPacket),
        .init("keep alive cut short", nil, rawPacket(0x10, str("MQTT") + [0x04, 0x02, 0x00]), .malformedPacket),
        .init("will payload missing", nil, connect3(flags: 0x06, payload: str("a") + str("w")), .malformedPacket),
        .init("user name missing", nil, connect3(flags: 0x82), .malformedPacket),
        .init("password missing", nil, connect3(flags: 0xC2, payload: str("a") + str("u")), .malformedPacket),
        .init("v5 property length missing", nil, rawPacket(0x10, connectHeader(level: 5, flags: 0x02)), .malformedPacket),
        .init("v5 will properties missing", nil, connect5(flags: 0x06), .malformedPacket),
        .init("property length beyond the packet", nil,
              rawPacket(0x10, connectHeader(level: 5, flags: 0x02) + [0x10] + str("a")), .malformedPacket),
        .init("property value cut short by the property length", nil,
              rawPacket(0x10, connectHeader(level: 5, flags: 0x02) + [0x03, 0x11, 0x00, 0x00] + str("a")),
              .malformedPacket),
        .init("unknown property 0x05", nil, connect5(properties: [0x05, 0x00]), .malformedPacket),
        .init("property identifier 0x00", nil, connect5(properties: [0x00, 0x00]), .malformedPacket),
        .init("unknown property 0x7F", nil, connect5(properties: [0x7F, 0x00]), .malformedPacket),
        .init("Topic Alias in CONNECT", nil, connect5(properties: [0x23] + u16(1)), .malformedPacket),
        .init("Will Delay Interval in CONNECT properties", nil, connect5(properties: [0x18] + u32(1)), .malformedPacket),
        .init("Reason String in CONNECT", nil, connect5(properties: [0x1F] + str("r")), .malformedPacket),
        .init("Maximum QoS in CONNECT", nil, connect5(properties: [0x24, 0x01]), .malformedPacket),
        .init("Subscription Identifier in CONNECT", nil, connect5(properties: [0x0B, 0x01]), .malformedPacket),
        .init("Session Expiry Interval twice", nil,
              connect5(properties: [0x11] + u32(1) + [0x11] + u32(2)), .protocolError),
        .init("Authentication Method twice", nil,
              connect5(properties: [0x15] + str("a") + [0x15] + str("b")), .protocolError),
        .init("Receive Maximum 0", nil, connect5(properties: [0x21] + u16(0)), .protocolError),
        .init("Maximum Packet Size 0", nil, connect5(properties: [0x27] + u32(0)), .protocolError),
        .init("Request Problem Information 2", nil, connect5(properties: [0x17, 0x02]), .protocolError),
        .init("Request Response Information 2", nil, connect5(properties: [0x19, 0x02]), .protocolError),
        .init("user property without a value", nil, connect5(properties: [0x26] + str("k")), .malformedPacket),
        .init("Subscription Identifier in will properties", nil, connect5(willProperties: [0x0B, 0x01]), .malformedPacket),
        .init("Topic Alias in will properties", nil, connect5(willProperties: [0x23] + u16(1)), .malformedPacket),
        .init("Session Expiry in will properties", nil, connect5(willProperties: [0x11] + u32(1)), .malformedPacket),
        .init("Will Delay Interval twice", nil,
              connect5(willProperties: [0x18] + u32(1) + [0x18] + u32(2)), .protocolError),
        .init("Payload Format Indicator 2 in will properties", nil, connect5(willProperties: [0x01, 0x02]), .protocolError),
    ]

    static let publish: [Malformed] = [
        .init("PUBLISH QoS 3", v3, rawPacket(0x36, str("a") + u16(1)), .malformedPacket),
        .init("PUBLISH QoS 3", v5, rawPacket(0x36, str("a") + u16(1) + [0x00]), .malformedPacket),
        .init("PUBLISH DUP on QoS 0", v3, rawPacket(0x38, str("a")), .malformedPacket),
        .init("PUBLISH DUP on QoS 0", v5, rawPacket(0x39, str("a") + [0x00]), .malformedPacket),
        .init("PUBLISH QoS 1 packet id 0", v3, rawPacket(0x32, str("a") + u16(0)), .protocolError),
        .init("PUBLISH QoS 2 packet id 0", v5, rawPacket(0x34, str("a") + u16(0) + [0x00]), .protocolError),
        .init("PUBLISH QoS 1 packet id cut short", v3, rawPacket(0x32, str("a") + [0x01]), .malformedPacket),
        .init("PUBLISH empty body", v3, [0x30, 0x00], .malformedPacket),
        .init("PUBLISH topic length beyond the packet", v3, rawPacket(0x30, u16(5) + [0x61]), .malformedPacket),
        .init("PUBLISH v5 property length missing", v5, rawPacket(0x30, str("t")), .malformedPacket),
        .init("PUBLISH property length beyond the packet", v5, rawPacket(0x30, str("t") + [0x05, 0x01]), .malformedPacket),
        .init("Session Expiry Interval in PUBLISH", v5, publish5([0x11] + u32(1)), .malformedPacket),
        .init("Receive Maximum in PUBLISH", v5, publish5([0x21] + u16(1)), .malformedPacket),
        .init("Will Delay Interval in PUBLISH", v5, publish5([0x18] + u32(1)), .malformedPacket),
        .init("Reason String in PUBLISH", v5, publish5([0x1F] + str("r")), .malformedPacket),
        .init("unknown property 0x04 in PUBLISH", v5, publish5([0x04, 0x00]), .malformedPacket),
        .init("Payload Format Indicator 2", v5, publish5([0x01, 0x02]), .protocolError),
        .init("Topic Alias 0", v5, publish5([0x23] + u16(0)), .protocolError),
        .init("Subscription Identifier 0 in PUBLISH", v5, publish5([0x0B, 0x00]), .protocolError),
        .init("Subscription Identifier of five bytes", v5, publish5([0x0B, 0x80, 0x80, 0x80, 0x80, 0x01]), .malformedPacket),
        .init("Content Type twice", v5, publish5([0x03] + str("a") + [0x03] + str("b")), .protocolError),
        .init("Topic Alias twice", v5, publish5([0x23] + u16(1) + [0x23] + u16(2)), .protocolError),
        .init("Message Expiry Interval twice", v5, publish5([0x02] + u32(1) + [0x02] + u32(1)), .protocolError),
        .init("Correlation Data longer than the properties", v5, publish5([0x09] + u16(9) + [0x01]), .malformedPacket),
        .init("Message Expiry Interval cut short", v5, publish5([0x02, 0x00, 0x01]), .malformedPacket),
    ]

    static let acknowledgements: [Malformed] = [
        .init("PUBACK packet id 0", v3, [0x40, 0x02, 0x00, 0x00], .protocolError),
        .init("PUBREC packet id 0", v5, [0x50, 0x02, 0x00, 0x00], .protocolError),
        .init("PUBREL packet id 0", v3, [0x62, 0x02, 0x00, 0x00], .protocolError),
        .init("PUBCOMP packet id 0", v5, [0x70, 0x02, 0x00, 0x00], .protocolError),
        .init("PUBACK packet id cut short", v3, [0x40, 0x01, 0x00], .malformedPacket),
        .init("PUBACK empty", v5, [0x40, 0x00], .malformedPacket),
        .init("PUBACK with a trailing byte", v3, [0x40, 0x03, 0x00, 0x01, 0x00], .malformedPacket),
        .init("PUBCOMP with a trailing byte", v3, [0x70, 0x03, 0x00, 0x01, 0x00], .malformedPacket),
        .init("PUBACK property length beyond the packet", v5, [0x40, 0x04, 0x00, 0x01, 0x10, 0x05], .malformedPacket),
        .init("Server Reference in PUBACK", v5, rawPacket(0x40, u16(1) + [0x10] + props([0x1C] + str("s"))), .malformedPacket),
        .init("Topic Alias in PUBREL", v5, rawPacket(0x62, u16(1) + [0x00] + props([0x23] + u16(1))), .malformedPacket),
        .init("Reason String twice in PUBACK", v5,
              rawPacket(0x40, u16(1) + [0x10] + props([0x1F] + str("a"), [0x1F] + str("b"))), .protocolError),
        .init("PUBACK with bytes after the properties", v5,
              rawPacket(0x40, u16(1) + [0x10] + props() + [0x00]), .malformedPacket),
        .init("CONNACK unknown return code 6", v3, [0x20, 0x02, 0x00, 0x06], .malformedPacket),
        .init("CONNACK reserved flag bits", v3, [0x20, 0x02, 0x02, 0x00], .malformedPacket),
        .init("CONNACK reserved flag bits", v5, [0x20, 0x03, 0x80, 0x00, 0x00], .malformedPacket),
        .init("CONNACK cut short", v3, [0x20, 0x01, 0x00], .malformedPacket),
        .init("CONNACK with a trailing byte", v3, [0x20, 0x03, 0x00, 0x00, 0x00], .malformedPacket),
        .init("Maximum QoS 2", v5, connack5([0x24, 0x02]), .protocolError),
        .init("Retain Available 2", v5, connack5([0x25, 0x02]), .protocolError),
        .init("Shared Subscription Available 2", v5, connack5([0x2A, 0x02]), .protocolError),
        .init("Receive Maximum 0 in CONNACK", v5, connack5([0x21] + u16(0)), .protocolError),
        .init("Assigned Client Identifier twice", v5, connack5([0x12] + str("a") + [0x12] + str("b")), .protocolError),
        .init("Will Delay Interval in CONNACK", v5, connack5([0x18] + u32(1)), .malformedPacket),
        .init("Request Problem Information in CONNACK", v5, connack5([0x17, 0x01]), .malformedPacket),
        .init("Assigned Client Identifier not UTF-8", v5, connack5([0x12] + lengthPrefixed([0xC0, 0x80])), .malformedPacket),
        .init("SUBACK return code 0x03", v3, [0x90, 0x03, 0x00, 0x01, 0x03], .malformedPacket),
        .init("SUBACK return code 0x87", v3, [0x90, 0x03, 0x00, 0x01, 0x87], .malformedPacket),
        .init("SUBACK property length missing", v5, [0x90, 0x02, 0x00, 0x01], .malformedPacket),
        .init("UNSUBACK with a trailing byte", v3, [0xB0, 0x03, 0x00, 0x01, 0x00], .malformedPacket),
        .init("UNSUBACK Session Expiry Interval", v5, rawPacket(0xB0, u16(1) + props([0x11] + u32(1)) + [0x00]), .malformedPacket),
    ]

    static let subscriptions: [Malformed] = [
        .init("SUBSCRIBE packet id 0", v3, rawPacket(0x82, u16(0) + str("a") + [0x00]), .protocolError),
        .init("SUBSCRIBE without filters", v3, [0x82, 0x02, 0x00, 0x01], .protocolError),
        .init("SUBSCRIBE without filters", v5, [0x82, 0x03, 0x00, 0x01, 0x00], .protocolError),
        .init("SUBSCRIBE options byte missing", v3, rawPacket(0x82, u16(1) + str("a")), .malformedPacket),
        // [MQTT-4.7.3-1]: 3.1.1 has no SUBACK code for one bad filter, so a zero-length one is Malformed.
        .init("SUBSCRIBE with a zero-length filter", v3, rawPacket(0x82, u16(1) + str("a") + [0x01] + str("") + [0x01]), .malformedPacket),
        .init("UNSUBSCRIBE with a zero-length filter", v3, rawPacket(0xA2, u16(1) + str("")), .malformedPacket),
        .init("UNSUBSCRIBE with a zero-length filter after a good one", v3, rawPacket(0xA2, u16(1) + str("a") + str("")), .malformedPacket),
        .init("SUBSCRIBE filter longer than the packet", v3, rawPacket(0x82, u16(1) + u16(9) + [0x61, 0x00]), .malformedPacket),
        .init("subscription QoS 3", v3, rawPacket(0x82, u16(1) + str("a") + [0x03]), .malformedPacket),
        .init("subscription QoS 3", v5, subscribe5(options: 0x03), .malformedPacket),
        .init("reserved option bits in 3.1.1", v3, rawPacket(0x82, u16(1) + str("a") + [0x04]), .malformedPacket),
        .init("reserved option bit 6", v5, subscribe5(options: 0x40), .malformedPacket),
        .init("reserved option bit 7", v5, subscribe5(options: 0x81), .malformedPacket),
        .init("Retain Handling 3", v5, subscribe5(options: 0x30), .protocolError),
        .init("Subscription Identifier 0", v5, subscribe5([0x0B, 0x00]), .protocolError),
        .init("Subscription Identifier twice in SUBSCRIBE", v5, subscribe5([0x0B, 0x01, 0x0B, 0x02]), .protocolError),
        .init("Topic Alias in SUBSCRIBE", v5, subscribe5([0x23] + u16(1)), .malformedPacket),
        .init("Reason String in SUBSCRIBE", v5, subscribe5([0x1F] + str("r")), .malformedPacket),
        .init("UNSUBSCRIBE packet id 0", v5, rawPacket(0xA2, u16(0) + [0x00] + str("a")), .protocolError),
        .init("UNSUBSCRIBE without filters", v3, [0xA2, 0x02, 0x00, 0x01], .protocolError),
        .init("UNSUBSCRIBE without filters", v5, [0xA2, 0x03, 0x00, 0x01, 0x00], .protocolError),
        .init("UNSUBSCRIBE filter cut short", v3, rawPacket(0xA2, u16(1) + str("a") + [0x00]), .malformedPacket),
        .init("Subscription Identifier in UNSUBSCRIBE", v5, rawPacket(0xA2, u16(1) + props([0x0B, 0x01]) + str("a")), .malformedPacket),
    ]

    static let other: [Malformed] = [
        .init("PINGREQ with a trailing byte", v3, [0xC0, 0x01, 0x00], .malformedPacket),
        .init("PINGREQ with a trailing byte", v5, [0xC0, 0x01, 0x00], .malformedPacket),
        .init("PINGRESP with a trailing byte", v5, [0xD0, 0x01, 0x00], .malformedPacket),
        .init("DISCONNECT with a trailing byte", v3, [0xE0, 0x01, 0x00], .malformedPacket),
        .init("DISCONNECT property length beyond the packet", v5, [0xE0, 0x02, 0x00, 0x03], .malformedPacket),
        .init("DISCONNECT with bytes after the properties", v5, [0xE0, 0x03, 0x00, 0x00, 0xFF], .malformedPacket),
        .init("Topic Alias in DISCONNECT", v5, rawPacket(0xE0, [0x00] + props([0x23] + u16(1))), .malformedPacket),
        .init("Session Expiry Interval twice in DISCONNECT", v5,
              rawPacket(0xE0, [0x00] + props([0x11] + u32(1), [0x11] + u32(1))), .protocolError),
        .init("AUTH in 3.1.1", v3, [0xF0, 0x00], .malformedPacket),
        .init("Session Expiry Interval in AUTH", v5, rawPacket(0xF0, [0x18] + props([0x11] + u32(1))), .malformedPacket),
        .init("PINGREQ before CONNECT", nil, [0xC0, 0x00], .protocolError),
        .init("PUBLISH before CONNECT", nil, rawPacket(0x30, str("t") + [0x00]), .protocolError),
        .init("CONNACK before CONNECT", nil, [0x20, 0x02, 0x00, 0x00], .protocolError),
        .init("SUBSCRIBE before CONNECT", nil, rawPacket(0x82, u16(1) + str("a") + [0x00]), .protocolError),
        .init("DISCONNECT before CONNECT", nil, [0xE0, 0x00], .protocolError),
        .init("AUTH before CONNECT", nil, [0xF0, 0x00], .protocolError),
    ]

    /// A string that is not well-formed MQTT UTF-8, in each kind of place a string is read.
    static let strings: [Malformed] = invalidUTF8.flatMap { (what, bytes) -> [Malformed] in
        let s = lengthPrefixed(bytes)
        return [
            .init("client identifier: \(what)", nil, connect3(payload: s), .malformedPacket),
            .init("user name: \(what)", nil, connect3(flags: 0x82, payload: str("a") + s), .malformedPacket),
            .init("will topic: \(what)", nil, connect5(flags: 0x06, rest: props() + s + str("x")), .malformedPacket),
            .init("topic name: \(what)", v3, rawPacket(0x30, s), .malformedPacket),
            .init("topic filter: \(what)", v5, rawPacket(0x82, u16(1) + props() + s + [0x00]), .malformedPacket),
            .init("unsubscribe filter: \(what)", v3, rawPacket(0xA2, u16(1) + s), .malformedPacket),
            .init("user property name: \(what)", v5, publish5([0x26] + s + str("v")), .malformedPacket),
            .init("user property value: \(what)", v5, publish5([0x26] + str("k") + s), .malformedPacket),
            .init("reason string: \(what)", v5, rawPacket(0xE0, [0x8E] + props([0x1F] + s)), .malformedPacket),
        ]
    }

    static let all = fixedHeader + connect + publish + acknowledgements + subscriptions + other + strings

    @Test("malformed input throws the expected kind and leaves the buffer alone", arguments: all)
    func rejects(_ malformed: Malformed) {
        var decoder = MQTTPacketDecoder(protocolVersion: malformed.version)
        var input = buffer(malformed.bytes)
        do {
            let packet = try decoder.decode(from: &input)
            Issue.record("returned \(packet.map { "\($0)" } ?? "nil") instead of throwing \(malformed.kind)")
        } catch {
            #expect(error.kind == malformed.kind, "\(error)")
            #expect(input.readerIndex == 0)
            #expect(input.readableBytes == malformed.bytes.count)
        }
        // A server decoder that refused the first packet has not learned a version from it.
        if malformed.version == nil { #expect(decoder.protocolVersion == nil) }
    }

    @Test("the same malformed inputs also fail after a valid CONNECT on a server-side decoder")
    func rejectsAfterConnect() throws {
        for malformed in Self.all where malformed.version != nil && malformed.version != .v3_1 {
            let connect = malformed.version == .v5 ? minimalConnectV5 : minimalConnectV3
            let error = try decodeErrorAfterConnect(malformed.bytes, connect: connect)
            #expect(error?.kind == malformed.kind, "\(malformed.testDescription)")
        }
    }

    // MARK: valid neighbours of the malformed cases

    @Test("MQIsdp level 3 decodes as MQTT 3.1")
    func mqttV31() throws {
        var decoder = MQTTPacketDecoder()
        var input = buffer(Self.connect3(name: "MQIsdp", level: 3))
        #expect(try decoder.decode(from: &input) == .connect(ConnectPacket(protocolVersion: .v3_1, clientID: "a")))
        #expect(decoder.protocolVersion == .v3_1)
    }

    @Test("repeated user properties and PUBLISH subscription identifiers are allowed")
    func repeatableProperties() throws {
        let connect = try decodeOne(
            Self.connect5(properties: [0x26] + str("k") + str("v") + [0x26] + str("k") + str("v")), version: nil)
        #expect(connect == .connect(ConnectPacket(clientID: "a", properties: MQTTProperties(
            userProperties: [UserProperty("k", "v"), UserProperty("k", "v")]))))

        let publish = try decodeOne(Self.publish5([0x0B, 0x01, 0x0B, 0x01, 0x0B, 0x02]), version: .v5)
        #expect(publish == .publish(PublishPacket(
            topic: "t", payload: ByteBuffer(), properties: PublishProperties(subscriptionIdentifiers: [1, 1, 2]))))
    }

    @Test("MQTT 5 decodes zero-length filters: the broker refuses each with its own reason code")
    func zeroLengthFiltersInV5() throws {
        let subscribe = try decodeOne(rawPacket(0x82, u16(1) + [0x00] + str("") + [0x01]), version: .v5)
        #expect(subscribe == .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("", qos: .atLeastOnce)])))
        let unsubscribe = try decodeOne(rawPacket(0xA2, u16(2) + [0x00] + str("")), version: .v5)
        #expect(unsubscribe == .unsubscribe(UnsubscribePacket(packetID: 2, filters: [""])))
    }

    @Test("strings may hold any well-formed UTF-8 except U+0000", arguments: [
        // A leading U+FEFF must be kept, not stripped (1.5.4).
        "ümlaut", "日本語", "😀 emoji", "\u{FEFF}bom", "\u{10000}", "a/b c",
    ])
    func validStrings(_ text: String) throws {
        let packet = MQTTPacket.publish(PublishPacket(topic: text, payload: ByteBuffer()))
        #expect(try decodeOne(try encode(packet, .v3_1_1), version: .v3_1_1) == packet)
    }

    // MARK: size limit

    @Test("a fixed header announcing more than the maximum throws before the body arrives", arguments: [
        [0x30, 0xE8, 0x07] as [UInt8],  // remaining length 1,000
        [0x30, 0xFF, 0xFF, 0xFF, 0x7F],  // the largest remaining length
        [0x10, 0x80, 0x80, 0x08],  // a 128 KiB CONNECT
    ])
    func packetTooLargeFromHeaderAlone(_ header: [UInt8]) {
        // Before CONNECT only a CONNECT header gets as far as the size check (anything else is refused
        // from its first byte, see CodecRegressionTests).
        for version in [nil, ProtocolVersion.v3_1_1, .v5] where version != nil || header[0] == 0x10 {
            var decoder = MQTTPacketDecoder(protocolVersion: version, maximumPacketSize: 100)
            var input = buffer(header)
            let error = #expect(throws: MQTTCodecError.self) { _ = try decoder.decode(from: &input) }
            #expect(error?.kind == .packetTooLarge)
            #expect(input.readableBytes == header.count)
        }
    }

    @Test("the maximum packet size counts the whole packet, fixed header included")
    func packetSizeBoundary() throws {
        let bytes = try encode(.publish(PublishPacket(topic: "a/b", payload: patternPayload(200))), .v5)
        #expect(bytes.count == 209)  // 1 + 2 (remaining length 206) + 5 + 1 + 200

        #expect(decodeError(bytes, version: .v5, maximumPacketSize: bytes.count) == nil)
        #expect(decodeError(bytes, version: .v5, maximumPacketSize: bytes.count - 1)?.kind == .packetTooLarge)
        #expect(decodeError([0xC0, 0x00], version: .v5, maximumPacketSize: 2) == nil)
        #expect(decodeError([0xC0, 0x00], version: .v5, maximumPacketSize: 1)?.kind == .packetTooLarge)
        // Only the first byte and the length bytes are needed to decide.
        #expect(decodeError(Array(bytes.prefix(3)), version: .v5, maximumPacketSize: 208)?.kind == .packetTooLarge)
    }

    @Test("the default maximum accepts the largest remaining length the encoding allows")
    func defaultMaximum() throws {
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        var input = buffer([0x30, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(try decoder.decode(from: &input) == nil)
        #expect(decoder.maximumPacketSize == maximumVariableByteInteger + 5)
    }

    // MARK: error values

    @Test("error kinds map to the MQTT 5 reason codes a receiver answers with", arguments: [
        (MQTTCodecError.Kind.malformedPacket, UInt8(0x81)), (.protocolError, 0x82), (.packetTooLarge, 0x95),
        (.unsupportedProtocolVersion, 0x84),
    ])
    func reasonCodes(kind: MQTTCodecError.Kind, code: UInt8) {
        let error = MQTTCodecError(kind, "why")
        #expect(error.reasonCode == ReasonCode(code))
        #expect(error.description.contains("why"))
        #expect(error.description.contains(String(code, radix: 16, uppercase: true)))
    }

    @Test("the convenience constructors set their kinds")
    func convenienceConstructors() {
        #expect(MQTTCodecError.malformed("m").kind == .malformedPacket)
        #expect(MQTTCodecError.protocolError("p").kind == .protocolError)
        #expect(MQTTCodecError.packetTooLarge("t").kind == .packetTooLarge)
        #expect(MQTTCodecError.malformed("m").message == "m")
    }
}
