import NIOCore
import Testing

@testable import MQTTCore

// Helpers shared by the codec tests: building raw packets by hand, encoding, decoding, and a seeded random
// generator so the fuzz tests are reproducible.

// MARK: byte builders

/// A whole packet: the first byte, the remaining length as a variable byte integer, then the body.
func rawPacket(_ firstByte: UInt8, _ body: [UInt8]) -> [UInt8] {
    [firstByte] + variableByteInteger(body.count) + body
}

/// The spec's variable byte integer encoding (1.5.5), written independently of the codec under test.
func variableByteInteger(_ value: Int) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    repeat {
        var byte = UInt8(value % 128)
        value /= 128
        if value > 0 { byte |= 0x80 }
        bytes.append(byte)
    } while value > 0
    return bytes
}

/// A UTF-8 Encoded String: two-byte big-endian length, then the bytes.
func str(_ string: String) -> [UInt8] {
    lengthPrefixed(Array(string.utf8))
}

/// Two-byte big-endian length, then `bytes` (used for raw, possibly invalid, strings and binary data).
func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
    u16(UInt16(bytes.count)) + bytes
}

func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
func u32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

/// An MQTT 5 property section: the length, then the given property bytes.
func props(_ fields: [UInt8]...) -> [UInt8] {
    let all = fields.flatMap { $0 }
    return variableByteInteger(all.count) + all
}

/// The start of a CONNECT variable header: protocol name, level, flags and keep alive.
func connectHeader(name: String = "MQTT", level: UInt8, flags: UInt8, keepAlive: UInt16 = 60) -> [UInt8] {
    str(name) + [level, flags] + u16(keepAlive)
}

/// A minimal, valid MQTT 3.1.1 CONNECT (client id "a", clean session) for priming a server decoder.
let minimalConnectV3 = rawPacket(0x10, connectHeader(level: 4, flags: 0x02) + str("a"))
/// A minimal, valid MQTT 5 CONNECT (client id "a", clean start, no properties).
let minimalConnectV5 = rawPacket(0x10, connectHeader(level: 5, flags: 0x02) + [0x00] + str("a"))

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

// MARK: encode / decode

func encode(_ packet: MQTTPacket, _ version: ProtocolVersion) throws -> [UInt8] {
    var out = ByteBuffer()
    try MQTTPacketEncoder.encode(packet, version: version, into: &out)
    return out.bytes
}

/// Decodes every packet in `bytes`, requiring that they are all consumed.
func decodeAll(_ bytes: [UInt8], version: ProtocolVersion?) throws -> [MQTTPacket] {
    var decoder = MQTTPacketDecoder(protocolVersion: version)
    var input = buffer(bytes)
    var packets: [MQTTPacket] = []
    while let packet = try decoder.decode(from: &input) { packets.append(packet) }
    guard input.readableBytes == 0 else { throw TestFailure("\(input.readableBytes) bytes left undecoded") }
    return packets
}

/// Decodes exactly one packet that must fill `bytes`.
func decodeOne(_ bytes: [UInt8], version: ProtocolVersion?) throws -> MQTTPacket {
    let packets = try decodeAll(bytes, version: version)
    guard packets.count == 1 else { throw TestFailure("expected one packet, got \(packets.count)") }
    return packets[0]
}

/// The error that decoding `bytes` with a decoder in the given state throws, or nil if it throws none.
func decodeError(
    _ bytes: [UInt8], version: ProtocolVersion?, maximumPacketSize: Int = maximumVariableByteInteger + 5
) -> MQTTCodecError? {
    var decoder = MQTTPacketDecoder(protocolVersion: version, maximumPacketSize: maximumPacketSize)
    var input = buffer(bytes)
    do {
        while try decoder.decode(from: &input) != nil {}
        return nil
    } catch {
        return error
    }
}

/// The error `decode` throws for the first packet after a valid CONNECT of the given version has been seen
/// by a server-side decoder.
func decodeErrorAfterConnect(_ bytes: [UInt8], connect: [UInt8]) throws -> MQTTCodecError? {
    var decoder = MQTTPacketDecoder()
    var input = buffer(connect)
    guard try decoder.decode(from: &input) != nil else { throw TestFailure("CONNECT did not decode") }
    input = buffer(bytes)
    do {
        _ = try decoder.decode(from: &input)
        return nil
    } catch {
        return error
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: seeded randomness

/// SplitMix64: tiny, fast and good enough to drive a reproducible fuzz run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: sample packets

/// One packet and the protocol version it is exchanged under; the unit of the parameterized round trip,
/// incremental and fuzz tests.
struct PacketCase: Sendable, CustomTestStringConvertible {
    var name: String
    var version: ProtocolVersion
    var packet: MQTTPacket

    var testDescription: String { "\(version) \(name)" }
}

/// A payload of `count` bytes with a recognisable, non-repeating-at-small-periods pattern.
func patternPayload(_ count: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count)
    for i in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8)) }
    return buffer
}

enum Samples {
    static let v3: [PacketCase] = {
        let v: ProtocolVersion = .v3_1_1
        var cases: [PacketCase] = [
            .init(name: "CONNECT minimal", version: v, packet: .connect(ConnectPacket(
                protocolVersion: v, cleanStart: true, keepAlive: 60, clientID: "a"))),
            .init(name: "CONNECT empty client id, keep alive 0, persistent session", version: v,
                  packet: .connect(ConnectPacket(protocolVersion: v, cleanStart: false, keepAlive: 0, clientID: ""))),
            .init(name: "CONNECT will QoS 1 retained, user name, password", version: v, packet: .connect(ConnectPacket(
                protocolVersion: v, cleanStart: true, keepAlive: 65_535, clientID: "thing-1",
                will: Will(topic: "things/thing-1/lwt", payload: buffer("gone"), qos: .atLeastOnce, retain: true),
                username: "user", password: buffer([0x00, 0xFF, 0x10])))),
            .init(name: "CONNECT will QoS 2 not retained, user name only", version: v, packet: .connect(ConnectPacket(
                protocolVersion: v, clientID: "c", will: Will(topic: "w", payload: ByteBuffer(), qos: .exactlyOnce),
                username: "ünïcødé"))),
            .init(name: "CONNECT will QoS 0", version: v, packet: .connect(ConnectPacket(
                protocolVersion: v, clientID: "c", will: Will(topic: "w/x", payload: buffer("bye"))))),
            .init(name: "CONNECT MQTT 3.1 (MQIsdp)", version: .v3_1, packet: .connect(ConnectPacket(
                protocolVersion: .v3_1, clientID: "legacy"))),
        ]
        // Every 3.1.1 return code, through its ReasonCode mapping.
        let returnCodes: [ReasonCode] = [
            .success, .unsupportedProtocolVersion, .clientIdentifierNotValid, .serverUnavailable,
            .badUserNameOrPassword, .notAuthorized,
        ]
        for code in returnCodes {
            cases.append(.init(name: "CONNACK \(code)", version: v,
                               packet: .connack(ConnAckPacket(sessionPresent: false, reasonCode: code))))
        }
        cases += [
            .init(name: "CONNACK session present", version: v,
                  packet: .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success))),
            .init(name: "PUBLISH QoS 0", version: v,
                  packet: .publish(PublishPacket(topic: "a/b", payload: buffer("hello")))),
            .init(name: "PUBLISH QoS 0 retained, empty payload", version: v,
                  packet: .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(), retain: true))),
            .init(name: "PUBLISH QoS 1 dup retained", version: v, packet: .publish(PublishPacket(
                topic: "sport/tennis", payload: buffer("x"), qos: .atLeastOnce, retain: true, dup: true, packetID: 1))),
            .init(name: "PUBLISH QoS 2 packet id 65535", version: v, packet: .publish(PublishPacket(
                topic: "t", payload: buffer("y"), qos: .exactlyOnce, packetID: 65_535))),
            .init(name: "PUBLISH QoS 1 128 KiB payload", version: v, packet: .publish(PublishPacket(
                topic: "big", payload: patternPayload(128 * 1024), qos: .atLeastOnce, packetID: 7))),
            .init(name: "PUBACK", version: v, packet: .puback(AckPacket(packetID: 1))),
            .init(name: "PUBREC", version: v, packet: .pubrec(AckPacket(packetID: 300))),
            .init(name: "PUBREL", version: v, packet: .pubrel(AckPacket(packetID: 65_535))),
            .init(name: "PUBCOMP", version: v, packet: .pubcomp(AckPacket(packetID: 2))),
            .init(name: "SUBSCRIBE three filters", version: v, packet: .subscribe(SubscribePacket(
                packetID: 10, subscriptions: [
                    TopicSubscription("a/+", qos: .atMostOnce), TopicSubscription("b/#", qos: .atLeastOnce),
                    TopicSubscription("$share/g/c", qos: .exactlyOnce),
                ]))),
            .init(name: "SUBACK granted and failure", version: v, packet: .suback(SubAckPacket(
                packetID: 10, reasonCodes: [.grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError]))),
            .init(name: "UNSUBSCRIBE two filters", version: v,
                  packet: .unsubscribe(UnsubscribePacket(packetID: 11, filters: ["a/+", "b/#"]))),
            .init(name: "UNSUBACK", version: v, packet: .unsuback(UnsubAckPacket(packetID: 11))),
            .init(name: "PINGREQ", version: v, packet: .pingreq),
            .init(name: "PINGRESP", version: v, packet: .pingresp),
            .init(name: "DISCONNECT", version: v, packet: .disconnect(DisconnectPacket())),
        ]
        return cases
    }()

    static let everyConnectProperty = MQTTProperties(
        sessionExpiryInterval: 3_600, authenticationMethod: "SCRAM-SHA-1",
        authenticationData: buffer([1, 2, 3]), requestProblemInformation: false,
        requestResponseInformation: true, receiveMaximum: 20, topicAliasMaximum: 10,
        maximumPacketSize: 131_072,
        userProperties: [UserProperty("k", "v1"), UserProperty("k", "v2"), UserProperty("", "")]
    )

    static let everyConnAckProperty = MQTTProperties(
        sessionExpiryInterval: 0xFFFF_FFFF, assignedClientIdentifier: "auto-4f2a", serverKeepAlive: 30,
        authenticationMethod: "m", authenticationData: buffer("d"), responseInformation: "resp/",
        serverReference: "other.example.com", reasonString: "ok", receiveMaximum: 100, topicAliasMaximum: 8,
        maximumQoS: .atLeastOnce, retainAvailable: true, maximumPacketSize: 128 * 1024,
        wildcardSubscriptionAvailable: true, subscriptionIdentifierAvailable: false,
        sharedSubscriptionAvailable: true, userProperties: [UserProperty("region", "eu-west-1")]
    )

    static let everyPublishProperty = PublishProperties(
        payloadFormat: .utf8, messageExpiryInterval: 120, topicAlias: 3, responseTopic: "reply/to",
        correlationData: buffer([0xDE, 0xAD, 0xBE, 0xEF]),
        userProperties: [UserProperty("b", "2"), UserProperty("a", "1"), UserProperty("b", "3")],
        subscriptionIdentifiers: [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455],
        contentType: "application/json"
    )

    static let v5: [PacketCase] = {
        let v: ProtocolVersion = .v5
        var cases: [PacketCase] = [
            .init(name: "CONNECT minimal", version: v, packet: .connect(ConnectPacket(clientID: "a"))),
            .init(name: "CONNECT every property, will with every will property", version: v,
                  packet: .connect(ConnectPacket(
                    protocolVersion: v, cleanStart: false, keepAlive: 1_200, clientID: "thing-1",
                    will: Will(
                        topic: "things/thing-1/lwt", payload: buffer("{\"gone\":true}"), qos: .atLeastOnce,
                        retain: true,
                        properties: PublishProperties(
                            payloadFormat: .utf8, messageExpiryInterval: 60, responseTopic: "r",
                            correlationData: buffer([9]), userProperties: [UserProperty("w", "1"), UserProperty("w", "2")],
                            contentType: "application/json"),
                        delayInterval: 30),
                    username: "user", password: buffer("secret"), properties: everyConnectProperty))),
            .init(name: "CONNECT will delay only", version: v, packet: .connect(ConnectPacket(
                clientID: "c", will: Will(topic: "w", payload: ByteBuffer(), qos: .exactlyOnce, delayInterval: 0)))),
            .init(name: "CONNECT will without properties", version: v, packet: .connect(ConnectPacket(
                clientID: "c", will: Will(topic: "w", payload: buffer("x"))))),
            .init(name: "CONNECT password without user name", version: v, packet: .connect(ConnectPacket(
                clientID: "c", password: buffer("token")))),
            .init(name: "CONNACK minimal", version: v, packet: .connack(ConnAckPacket())),
            .init(name: "CONNACK every property", version: v, packet: .connack(ConnAckPacket(
                sessionPresent: true, reasonCode: .success, properties: everyConnAckProperty))),
            .init(name: "CONNACK not authorized with reason string", version: v, packet: .connack(ConnAckPacket(
                reasonCode: .notAuthorized, properties: MQTTProperties(reasonString: "policy denies iot:Connect")))),
            .init(name: "CONNACK use another server", version: v, packet: .connack(ConnAckPacket(
                reasonCode: .useAnotherServer, properties: MQTTProperties(serverReference: "b.example")))),
            .init(name: "PUBLISH QoS 0", version: v,
                  packet: .publish(PublishPacket(topic: "a/b", payload: buffer("hello")))),
            .init(name: "PUBLISH QoS 1 every property", version: v, packet: .publish(PublishPacket(
                topic: "sport/tennis", payload: buffer("{}"), qos: .atLeastOnce, retain: true, dup: true,
                packetID: 42, properties: everyPublishProperty))),
            .init(name: "PUBLISH QoS 0 empty payload with correlation data", version: v, packet: .publish(PublishPacket(
                topic: "t", payload: ByteBuffer(), properties: PublishProperties(correlationData: ByteBuffer())))),
            .init(name: "PUBLISH empty topic with topic alias", version: v, packet: .publish(PublishPacket(
                topic: "", payload: buffer("p"), properties: PublishProperties(topicAlias: 65_535)))),
            .init(name: "PUBLISH QoS 2 payload format bytes", version: v, packet: .publish(PublishPacket(
                topic: "t", payload: buffer([0, 1, 2]), qos: .exactlyOnce, packetID: 9,
                properties: PublishProperties(payloadFormat: .unspecifiedBytes, messageExpiryInterval: 0)))),
            .init(name: "PUBLISH QoS 1 128 KiB payload with user properties", version: v, packet: .publish(PublishPacket(
                topic: "big", payload: patternPayload(128 * 1024), qos: .atLeastOnce, packetID: 7,
                properties: PublishProperties(userProperties: [UserProperty("n", "1")])))),
        ]
        let ackReasons: [(String, AckPacket)] = [
            ("short form", AckPacket(packetID: 1)),
            ("reason only", AckPacket(packetID: 2, reasonCode: .noMatchingSubscribers)),
            ("failure with properties", AckPacket(packetID: 3, reasonCode: .notAuthorized, properties: MQTTProperties(
                reasonString: "denied", userProperties: [UserProperty("a", "b")]))),
            ("success with properties", AckPacket(packetID: 65_535, properties: MQTTProperties(reasonString: "fine"))),
        ]
        for (name, ack) in ackReasons {
            cases.append(.init(name: "PUBACK \(name)", version: v, packet: .puback(ack)))
            cases.append(.init(name: "PUBREC \(name)", version: v, packet: .pubrec(ack)))
            cases.append(.init(name: "PUBREL \(name)", version: v, packet: .pubrel(ack)))
            cases.append(.init(name: "PUBCOMP \(name)", version: v, packet: .pubcomp(ack)))
        }
        var subscriptions: [TopicSubscription] = []
        for handling in [RetainHandling.sendOnSubscribe, .sendOnSubscribeIfNew, .doNotSend] {
            for qos in [QoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
                for noLocal in [false, true] {
                    for rap in [false, true] {
                        subscriptions.append(TopicSubscription(
                            filter: "f/\(handling.rawValue)/\(qos.rawValue)/\(noLocal)/\(rap)",
                            options: SubscriptionOptions(qos: qos, noLocal: noLocal, retainAsPublished: rap,
                                                         retainHandling: handling)))
                    }
                }
            }
        }
        cases += [
            .init(name: "SUBSCRIBE every option combination", version: v,
                  packet: .subscribe(SubscribePacket(packetID: 5, subscriptions: subscriptions))),
            .init(name: "SUBSCRIBE subscription identifier and user property", version: v,
                  packet: .subscribe(SubscribePacket(
                    packetID: 6, subscriptions: [TopicSubscription("a/#", qos: .atLeastOnce)],
                    properties: MQTTProperties(subscriptionIdentifier: 268_435_455,
                                               userProperties: [UserProperty("x", "y")])))),
            .init(name: "SUBACK with reason string", version: v, packet: .suback(SubAckPacket(
                packetID: 5, reasonCodes: [.grantedQoS0, .grantedQoS1, .grantedQoS2, .notAuthorized,
                                           .topicFilterInvalid, .sharedSubscriptionsNotSupported],
                properties: MQTTProperties(reasonString: "partly", userProperties: [UserProperty("u", "p")])))),
            .init(name: "UNSUBSCRIBE with user property", version: v, packet: .unsubscribe(UnsubscribePacket(
                packetID: 8, filters: ["a", "b/+", "$share/g/c"],
                properties: MQTTProperties(userProperties: [UserProperty("k", "v")])))),
            .init(name: "UNSUBACK with reason codes", version: v, packet: .unsuback(UnsubAckPacket(
                packetID: 8, reasonCodes: [.success, .noSubscriptionExisted, .notAuthorized],
                properties: MQTTProperties(reasonString: "r")))),
            .init(name: "UNSUBACK without reason codes", version: v, packet: .unsuback(UnsubAckPacket(packetID: 9))),
            .init(name: "PINGREQ", version: v, packet: .pingreq),
            .init(name: "PINGRESP", version: v, packet: .pingresp),
            .init(name: "DISCONNECT normal", version: v, packet: .disconnect(DisconnectPacket())),
            .init(name: "DISCONNECT with will message", version: v,
                  packet: .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage))),
            .init(name: "DISCONNECT normal with session expiry", version: v, packet: .disconnect(DisconnectPacket(
                properties: MQTTProperties(sessionExpiryInterval: 0)))),
            .init(name: "DISCONNECT server moved with every property", version: v, packet: .disconnect(DisconnectPacket(
                reasonCode: .serverMoved, properties: MQTTProperties(
                    sessionExpiryInterval: 60, serverReference: "new.example", reasonString: "maintenance",
                    userProperties: [UserProperty("a", "1"), UserProperty("b", "2")])))),
            .init(name: "AUTH empty", version: v, packet: .auth(AuthPacket())),
            .init(name: "AUTH continue authentication", version: v, packet: .auth(AuthPacket(
                reasonCode: .continueAuthentication, properties: MQTTProperties(
                    authenticationMethod: "SCRAM-SHA-1", authenticationData: buffer([0, 1, 2, 255]))))),
            .init(name: "AUTH re-authenticate with reason string", version: v, packet: .auth(AuthPacket(
                reasonCode: .reAuthenticate, properties: MQTTProperties(
                    authenticationMethod: "m", reasonString: "again", userProperties: [UserProperty("k", "v")])))),
            .init(name: "AUTH success with method", version: v, packet: .auth(AuthPacket(
                properties: MQTTProperties(authenticationMethod: "m")))),
        ]
        return cases
    }()

    static let all = v3 + v5

    /// Every sample but the 128 KiB ones, for tests that do work per byte.
    static let small = all.filter { !$0.name.contains("128 KiB") }
}
