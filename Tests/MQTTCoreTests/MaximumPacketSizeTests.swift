import NIOCore
import Testing

@testable import MQTTCore

/// Encoding for a peer's MQTT 5 Maximum Packet Size ([MQTT-3.1.2-24], [MQTT-3.2.2-19], [MQTT-3.2.2-20]):
/// Reason String and User Properties go first, then the packet is refused whole.
@Suite("Maximum Packet Size when encoding")
struct MaximumPacketSizeTests {
    static let reason = String(repeating: "r", count: 60)
    static let withExtras = MQTTProperties(reasonString: reason, userProperties: [UserProperty("k", "v")])

    static func size(_ packet: MQTTPacket, _ version: ProtocolVersion = .v5) throws -> Int {
        try encode(packet, version).count
    }

    static func encoded(_ packet: MQTTPacket, limit: Int, version: ProtocolVersion = .v5) throws(MQTTCodecError) -> MQTTPacket {
        var buffer = ByteBuffer(bytes: [0xAA])  // bytes already in the buffer stay untouched
        try MQTTPacketEncoder.encode(packet, version: version, maximumPacketSize: limit, into: &buffer)
        #expect(buffer.readInteger(as: UInt8.self) == 0xAA)
        var decoder = MQTTPacketDecoder(protocolVersion: version)
        guard let decoded = try decoder.decode(from: &buffer) else { throw .malformed("incomplete") }
        #expect(buffer.readableBytes == 0)
        return decoded
    }

    static let packets: [MQTTPacket] = [
        .connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid, properties: withExtras)),
        .puback(AckPacket(packetID: 7, reasonCode: .topicNameInvalid, properties: withExtras)),
        .suback(SubAckPacket(packetID: 8, reasonCodes: [.quotaExceeded, .grantedQoS1], properties: withExtras)),
        .unsuback(UnsubAckPacket(packetID: 9, reasonCodes: [.topicFilterInvalid], properties: withExtras)),
        .disconnect(DisconnectPacket(reasonCode: .topicNameInvalid, properties: withExtras)),
    ]

    @Test("a packet that fits is written as it is", arguments: packets)
    func fits(_ packet: MQTTPacket) throws {
        #expect(try Self.encoded(packet, limit: try Self.size(packet)) == packet)
    }

    @Test("one byte too small: Reason String and User Properties are left out, the rest is kept", arguments: packets)
    func trimmed(_ packet: MQTTPacket) throws {
        let limit = try Self.size(packet) - 1
        let expected = try #require(packet.withoutOptionalProperties)
        #expect(try Self.encoded(packet, limit: limit) == expected)
        #expect(try Self.size(expected) <= limit)
    }

    @Test("a packet that does not fit even without them is refused and nothing is written", arguments: packets)
    func refused(_ packet: MQTTPacket) throws {
        let minimum = try Self.size(try #require(packet.withoutOptionalProperties))
        var buffer = ByteBuffer(bytes: [0xAA])
        #expect(throws: MQTTCodecError.self) {
            try MQTTPacketEncoder.encode(packet, version: .v5, maximumPacketSize: minimum - 1, into: &buffer)
        }
        #expect(buffer.readableBytes == 1)
        do {
            try MQTTPacketEncoder.encode(packet, version: .v5, maximumPacketSize: minimum - 1, into: &buffer)
        } catch {
            #expect(error.kind == .packetTooLarge)
        }
    }

    @Test("a CONNACK with only the server's own properties cannot be trimmed")
    func successfulConnAck() throws {
        var properties = MQTTProperties()
        properties.maximumQoS = .atLeastOnce
        properties.receiveMaximum = 100
        let connack = MQTTPacket.connack(ConnAckPacket(properties: properties))
        #expect(connack.withoutOptionalProperties == nil)
        #expect(throws: MQTTCodecError.self) { _ = try Self.encoded(connack, limit: try Self.size(connack) - 1) }
    }

    @Test("PUBLISH is never trimmed: its user properties belong to the message")
    func publishIsRefusedWhole() throws {
        let publish = MQTTPacket.publish(PublishPacket(topic: "t", payload: ByteBuffer(bytes: [1, 2, 3]),
                                                       properties: PublishProperties(userProperties: [UserProperty("k", "v")])))
        #expect(publish.withoutOptionalProperties == nil)
        #expect(throws: MQTTCodecError.self) { _ = try Self.encoded(publish, limit: try Self.size(publish) - 1) }
        #expect(try Self.encoded(publish, limit: .max) == publish)
    }

    @Test("3.1.1 packets have no properties to drop")
    func version311() throws {
        let suback = MQTTPacket.suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1]))
        #expect(try Self.encoded(suback, limit: 5, version: .v3_1_1) == suback)
        #expect(throws: MQTTCodecError.self) { _ = try Self.encoded(suback, limit: 4, version: .v3_1_1) }
    }
}
