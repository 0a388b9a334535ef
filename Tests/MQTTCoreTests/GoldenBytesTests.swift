import NIOCore
import Testing

@testable import MQTTCore

/// Packets assembled by hand from the specification, checked both ways: the encoder writes exactly these
/// bytes and the decoder reads exactly this packet from them.
@Suite("Golden bytes")
struct GoldenBytesTests {
    struct Golden: Sendable, CustomTestStringConvertible {
        var name: String
        var version: ProtocolVersion
        var bytes: [UInt8]
        var packet: MQTTPacket
        var testDescription: String { "\(version) \(name)" }
    }

    static let M = UInt8(ascii: "M"), Q = UInt8(ascii: "Q"), T = UInt8(ascii: "T")
    static let a = UInt8(ascii: "a"), b = UInt8(ascii: "b"), slash = UInt8(ascii: "/")

    static let cases: [Golden] = [
        // 3.1.2: protocol name, level 4, Clean Session, keep alive 60, then the client id "a".
        Golden(name: "CONNECT client id a, keep alive 60, clean session", version: .v3_1_1,
               bytes: [0x10, 0x0D, 0x00, 0x04, M, Q, T, T, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, a],
               packet: .connect(ConnectPacket(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientID: "a"))),
        Golden(name: "CONNECT will QoS 1 retained, user name, password", version: .v3_1_1,
               bytes: [0x10, 0x19, 0x00, 0x04, M, Q, T, T, 0x04,
                       0xEE,  // user name, password, will retain, will QoS 1, will flag, clean session
                       0x00, 0x0A,
                       0x00, 0x01, UInt8(ascii: "c"),
                       0x00, 0x01, UInt8(ascii: "w"), 0x00, 0x01, UInt8(ascii: "x"),
                       0x00, 0x01, UInt8(ascii: "u"), 0x00, 0x01, UInt8(ascii: "p")],
               packet: .connect(ConnectPacket(
                protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 10, clientID: "c",
                will: Will(topic: "w", payload: buffer("x"), qos: .atLeastOnce, retain: true),
                username: "u", password: buffer("p")))),
        Golden(name: "CONNECT MQTT 3.1 (MQIsdp, level 3)", version: .v3_1,
               bytes: [0x10, 0x0F, 0x00, 0x06, M, Q, UInt8(ascii: "I"), UInt8(ascii: "s"), UInt8(ascii: "d"),
                       UInt8(ascii: "p"), 0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, a],
               packet: .connect(ConnectPacket(protocolVersion: .v3_1, clientID: "a"))),
        Golden(name: "CONNECT client id a, keep alive 60, clean start", version: .v5,
               bytes: [0x10, 0x0E, 0x00, 0x04, M, Q, T, T, 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, a],
               packet: .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientID: "a"))),
        Golden(name: "CONNECT session expiry, receive maximum, will delay", version: .v5,
               bytes: [0x10, 0x21, 0x00, 0x04, M, Q, T, T, 0x05, 0x06, 0x00, 0x3C,
                       0x08, 0x11, 0x00, 0x00, 0x00, 0x78, 0x21, 0x00, 0x0A,
                       0x00, 0x01, UInt8(ascii: "c"),
                       0x05, 0x18, 0x00, 0x00, 0x00, 0x05,
                       0x00, 0x01, UInt8(ascii: "w"), 0x00, 0x00],
               packet: .connect(ConnectPacket(
                clientID: "c", will: Will(topic: "w", payload: ByteBuffer(), delayInterval: 5),
                properties: MQTTProperties(sessionExpiryInterval: 120, receiveMaximum: 10)))),
        Golden(name: "CONNACK session present, not authorized (return code 5)", version: .v3_1_1,
               bytes: [0x20, 0x02, 0x01, 0x05],
               packet: .connack(ConnAckPacket(sessionPresent: true, reasonCode: .notAuthorized))),
        Golden(name: "CONNACK accepted", version: .v3_1_1, bytes: [0x20, 0x02, 0x00, 0x00],
               packet: .connack(ConnAckPacket())),
        Golden(name: "CONNACK success, no properties", version: .v5, bytes: [0x20, 0x03, 0x00, 0x00, 0x00],
               packet: .connack(ConnAckPacket())),
        Golden(name: "CONNACK Maximum QoS 1", version: .v5, bytes: [0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x01],
               packet: .connack(ConnAckPacket(properties: MQTTProperties(maximumQoS: .atLeastOnce)))),
        Golden(name: "CONNACK 0x87 with reason string", version: .v5,
               bytes: [0x20, 0x08, 0x00, 0x87, 0x05, 0x1F, 0x00, 0x02, UInt8(ascii: "n"), UInt8(ascii: "o")],
               packet: .connack(ConnAckPacket(reasonCode: .notAuthorized, properties: MQTTProperties(reasonString: "no")))),
        Golden(name: "PUBLISH QoS 1 a/b id 10 payload hi", version: .v3_1_1,
               bytes: [0x32, 0x09, 0x00, 0x03, a, slash, b, 0x00, 0x0A, UInt8(ascii: "h"), UInt8(ascii: "i")],
               packet: .publish(PublishPacket(topic: "a/b", payload: buffer("hi"), qos: .atLeastOnce, packetID: 10))),
        Golden(name: "PUBLISH QoS 1 a/b id 10 payload hi", version: .v5,
               bytes: [0x32, 0x0A, 0x00, 0x03, a, slash, b, 0x00, 0x0A, 0x00, UInt8(ascii: "h"), UInt8(ascii: "i")],
               packet: .publish(PublishPacket(topic: "a/b", payload: buffer("hi"), qos: .atLeastOnce, packetID: 10))),
        Golden(name: "PUBLISH QoS 2 dup", version: .v3_1_1,
               bytes: [0x3C, 0x05, 0x00, 0x01, UInt8(ascii: "t"), 0x12, 0x34],
               packet: .publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, dup: true,
                                              packetID: 0x1234))),
        Golden(name: "PUBLISH QoS 0 retained, empty payload", version: .v3_1_1,
               bytes: [0x31, 0x03, 0x00, 0x01, UInt8(ascii: "t")],
               packet: .publish(PublishPacket(topic: "t", payload: ByteBuffer(), retain: true))),
        Golden(name: "PUBLISH topic alias 1, subscription identifier 128, empty topic", version: .v5,
               bytes: [0x30, 0x0A, 0x00, 0x00, 0x06, 0x23, 0x00, 0x01, 0x0B, 0x80, 0x01, UInt8(ascii: "x")],
               packet: .publish(PublishPacket(topic: "", payload: buffer("x"), properties: PublishProperties(
                topicAlias: 1, subscriptionIdentifiers: [128])))),
        Golden(name: "PUBLISH remaining length 128 takes two bytes", version: .v3_1_1,
               bytes: [0x30, 0x80, 0x01, 0x00, 0x01, UInt8(ascii: "t")] + [UInt8](repeating: 0x55, count: 125),
               packet: .publish(PublishPacket(topic: "t", payload: ByteBuffer(repeating: 0x55, count: 125)))),
        Golden(name: "PUBACK", version: .v3_1_1, bytes: [0x40, 0x02, 0x00, 0x01],
               packet: .puback(AckPacket(packetID: 1))),
        Golden(name: "PUBREC", version: .v3_1_1, bytes: [0x50, 0x02, 0x01, 0x00],
               packet: .pubrec(AckPacket(packetID: 256))),
        Golden(name: "PUBREL (flags 0010)", version: .v3_1_1, bytes: [0x62, 0x02, 0xFF, 0xFF],
               packet: .pubrel(AckPacket(packetID: 65_535))),
        Golden(name: "PUBCOMP", version: .v3_1_1, bytes: [0x70, 0x02, 0x00, 0x02],
               packet: .pubcomp(AckPacket(packetID: 2))),
        Golden(name: "PUBACK success without properties: short form", version: .v5, bytes: [0x40, 0x02, 0x00, 0x01],
               packet: .puback(AckPacket(packetID: 1))),
        Golden(name: "PUBACK no matching subscribers: reason without property length", version: .v5,
               bytes: [0x40, 0x03, 0x00, 0x01, 0x10],
               packet: .puback(AckPacket(packetID: 1, reasonCode: .noMatchingSubscribers))),
        Golden(name: "PUBREC not authorized with reason string", version: .v5,
               bytes: [0x50, 0x09, 0x00, 0x01, 0x87, 0x05, 0x1F, 0x00, 0x02, UInt8(ascii: "n"), UInt8(ascii: "o")],
               packet: .pubrec(AckPacket(packetID: 1, reasonCode: .notAuthorized,
                                         properties: MQTTProperties(reasonString: "no")))),
        Golden(name: "PUBREL packet identifier not found", version: .v5, bytes: [0x62, 0x03, 0x00, 0x05, 0x92],
               packet: .pubrel(AckPacket(packetID: 5, reasonCode: .packetIdentifierNotFound))),
        Golden(name: "SUBSCRIBE a/b QoS 1", version: .v3_1_1,
               bytes: [0x82, 0x08, 0x00, 0x01, 0x00, 0x03, a, slash, b, 0x01],
               packet: .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("a/b", qos: .atLeastOnce)]))),
        Golden(name: "SUBSCRIBE QoS 1, No Local, RAP, Retain Handling 2, subscription identifier 5", version: .v5,
               bytes: [0x82, 0x0B, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x03, a, slash, b, 0x2D],
               packet: .subscribe(SubscribePacket(
                packetID: 1,
                subscriptions: [TopicSubscription(filter: "a/b", options: SubscriptionOptions(
                    qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend))],
                properties: MQTTProperties(subscriptionIdentifier: 5)))),
        Golden(name: "SUBSCRIBE Retain Handling 1", version: .v5,
               bytes: [0x82, 0x07, 0x00, 0x02, 0x00, 0x00, 0x01, a, 0x10],
               packet: .subscribe(SubscribePacket(packetID: 2, subscriptions: [TopicSubscription(
                filter: "a", options: SubscriptionOptions(retainHandling: .sendOnSubscribeIfNew))]))),
        Golden(name: "SUBACK granted QoS 1 and failure 0x80", version: .v3_1_1,
               bytes: [0x90, 0x04, 0x00, 0x01, 0x01, 0x80],
               packet: .suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1, .unspecifiedError]))),
        Golden(name: "SUBACK granted QoS 0 and quota exceeded", version: .v5,
               bytes: [0x90, 0x05, 0x00, 0x01, 0x00, 0x00, 0x97],
               packet: .suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS0, .quotaExceeded]))),
        Golden(name: "UNSUBSCRIBE a", version: .v3_1_1, bytes: [0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, a],
               packet: .unsubscribe(UnsubscribePacket(packetID: 2, filters: ["a"]))),
        Golden(name: "UNSUBSCRIBE a", version: .v5, bytes: [0xA2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, a],
               packet: .unsubscribe(UnsubscribePacket(packetID: 2, filters: ["a"]))),
        Golden(name: "UNSUBACK (no reason codes)", version: .v3_1_1, bytes: [0xB0, 0x02, 0x00, 0x07],
               packet: .unsuback(UnsubAckPacket(packetID: 7))),
        Golden(name: "UNSUBACK no subscription existed", version: .v5, bytes: [0xB0, 0x04, 0x00, 0x07, 0x00, 0x11],
               packet: .unsuback(UnsubAckPacket(packetID: 7, reasonCodes: [.noSubscriptionExisted]))),
        Golden(name: "PINGREQ", version: .v3_1_1, bytes: [0xC0, 0x00], packet: .pingreq),
        Golden(name: "PINGREQ", version: .v5, bytes: [0xC0, 0x00], packet: .pingreq),
        Golden(name: "PINGRESP", version: .v3_1_1, bytes: [0xD0, 0x00], packet: .pingresp),
        Golden(name: "PINGRESP", version: .v5, bytes: [0xD0, 0x00], packet: .pingresp),
        Golden(name: "DISCONNECT", version: .v3_1_1, bytes: [0xE0, 0x00], packet: .disconnect(DisconnectPacket())),
        Golden(name: "DISCONNECT normal: short form", version: .v5, bytes: [0xE0, 0x00],
               packet: .disconnect(DisconnectPacket())),
        Golden(name: "DISCONNECT session taken over (0x8E)", version: .v5, bytes: [0xE0, 0x01, 0x8E],
               packet: .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))),
        Golden(name: "DISCONNECT normal with session expiry 0", version: .v5,
               bytes: [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00],
               packet: .disconnect(DisconnectPacket(properties: MQTTProperties(sessionExpiryInterval: 0)))),
        Golden(name: "AUTH success: empty", version: .v5, bytes: [0xF0, 0x00], packet: .auth(AuthPacket())),
        Golden(name: "AUTH continue authentication, method m", version: .v5,
               bytes: [0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, UInt8(ascii: "m")],
               packet: .auth(AuthPacket(reasonCode: .continueAuthentication,
                                        properties: MQTTProperties(authenticationMethod: "m")))),
    ]

    @Test("encode(packet) == bytes", arguments: cases)
    func encodes(_ golden: Golden) throws {
        #expect(try encode(golden.packet, golden.version) == golden.bytes)
    }

    @Test("decode(bytes) == packet", arguments: cases)
    func decodes(_ golden: Golden) throws {
        #expect(try decodeOne(golden.bytes, version: golden.version) == golden.packet)
        if golden.packet.type == .connect {
            #expect(try decodeOne(golden.bytes, version: nil) == golden.packet)
        }
    }

    /// Encodings the encoder never produces but a peer may send: the spec lets a sender include the reason
    /// code and an empty property list even when they could be omitted.
    static let acceptedLongForms: [Golden] = [
        Golden(name: "PUBACK success with reason code", version: .v5, bytes: [0x40, 0x03, 0x00, 0x01, 0x00],
               packet: .puback(AckPacket(packetID: 1))),
        Golden(name: "PUBCOMP success with reason code and empty properties", version: .v5,
               bytes: [0x70, 0x04, 0x00, 0x01, 0x00, 0x00], packet: .pubcomp(AckPacket(packetID: 1))),
        Golden(name: "DISCONNECT normal with reason code", version: .v5, bytes: [0xE0, 0x01, 0x00],
               packet: .disconnect(DisconnectPacket())),
        Golden(name: "DISCONNECT normal with reason code and empty properties", version: .v5,
               bytes: [0xE0, 0x02, 0x00, 0x00], packet: .disconnect(DisconnectPacket())),
        Golden(name: "DISCONNECT 0x8E with empty properties", version: .v5, bytes: [0xE0, 0x02, 0x8E, 0x00],
               packet: .disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))),
        Golden(name: "AUTH success with reason code and empty properties", version: .v5,
               bytes: [0xF0, 0x02, 0x00, 0x00], packet: .auth(AuthPacket())),
        Golden(name: "user properties repeated in PUBLISH", version: .v5,
               bytes: rawPacket(0x30, str("t") + props([0x26] + str("k") + str("1"), [0x26] + str("k") + str("2"))),
               packet: .publish(PublishPacket(topic: "t", payload: ByteBuffer(), properties: PublishProperties(
                userProperties: [UserProperty("k", "1"), UserProperty("k", "2")])))),
        Golden(name: "password without user name", version: .v5,
               bytes: rawPacket(0x10, connectHeader(level: 5, flags: 0x42) + [0x00] + str("c") + str("pw")),
               packet: .connect(ConnectPacket(clientID: "c", password: buffer("pw")))),
    ]

    @Test("longer encodings a peer may send decode to the same packet", arguments: acceptedLongForms)
    func decodesLongForms(_ golden: Golden) throws {
        #expect(try decodeOne(golden.bytes, version: golden.version) == golden.packet)
    }

    /// Spec 1.5.5, table 1-1 and its edges.
    @Test("variable byte integers", arguments: [
        (0, [0x00] as [UInt8]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]), (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ])
    func variableByteIntegers(value: Int, bytes: [UInt8]) throws {
        var out = ByteBuffer()
        #expect(out.writeMQTTVariableByteInteger(value) == bytes.count)
        #expect(out.bytes == bytes)
        #expect(variableByteIntegerSize(value) == bytes.count)
        #expect(variableByteInteger(value) == bytes)

        var input = buffer(bytes + [0xAB])
        #expect(try input.readMQTTVariableByteInteger() == value)
        #expect(input.bytes == [0xAB])
    }

    @Test("the fixed header with the largest remaining length, FF FF FF 7F")
    func largestRemainingLength() throws {
        let header = try #require(try MQTTPacketDecoder.peekFixedHeader(buffer([0x30, 0xFF, 0xFF, 0xFF, 0x7F])))
        #expect(header.remainingLength == maximumVariableByteInteger)
        #expect(header.headerLength == 5)
        #expect(header.firstByte == 0x30)
    }
}
