import NIOCore
import Testing

@testable import MQTTCore

/// Bytes arrive from TCP in arbitrary pieces: the decoder must wait, consuming nothing, until a whole packet
/// is there, then consume exactly that packet.
@Suite("Incremental input")
struct IncrementalInputTests {
    /// Feeds `bytes` one at a time into `decoder`, checking nil and no consumption before the last byte.
    func dripFeed(_ bytes: [UInt8], into decoder: inout MQTTPacketDecoder) throws -> MQTTPacket? {
        var input = ByteBuffer()
        for (i, byte) in bytes.enumerated() {
            input.writeInteger(byte)
            let readerIndex = input.readerIndex
            let packet = try decoder.decode(from: &input)
            if i < bytes.count - 1 {
                #expect(packet == nil, "decoded a packet after \(i + 1) of \(bytes.count) bytes")
                #expect(input.readerIndex == readerIndex, "consumed bytes of an incomplete packet")
                if packet != nil { return nil }
            } else {
                #expect(input.readableBytes == 0, "the packet was not fully consumed")
                return packet
            }
        }
        return nil
    }

    @Test("one byte at a time: nil until the last byte, then the packet", arguments: Samples.small)
    func oneByteAtATime(_ sample: PacketCase) throws {
        let bytes = try encode(sample.packet, sample.version)
        var decoder = MQTTPacketDecoder(protocolVersion: sample.version)
        #expect(try dripFeed(bytes, into: &decoder) == sample.packet)

        if sample.packet.type == .connect {
            var server = MQTTPacketDecoder()
            #expect(try dripFeed(bytes, into: &server) == sample.packet)
            #expect(server.protocolVersion != nil)
        }
    }

    @Test("a 128 KiB PUBLISH arriving in 1,000-byte pieces", arguments: [ProtocolVersion.v3_1_1, .v5])
    func largePublishInPieces(_ version: ProtocolVersion) throws {
        let publish = MQTTPacket.publish(PublishPacket(
            topic: "big", payload: patternPayload(128 * 1024), qos: .atLeastOnce, packetID: 1))
        let bytes = try encode(publish, version)
        var decoder = MQTTPacketDecoder(protocolVersion: version)
        var input = ByteBuffer()
        var decoded: [MQTTPacket] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + 1_000, bytes.count)
            input.writeBytes(bytes[offset..<end])
            offset = end
            if let packet = try decoder.decode(from: &input) {
                decoded.append(packet)
                #expect(offset == bytes.count, "decoded before the last piece")
            } else {
                #expect(input.readerIndex == 0)
            }
        }
        #expect(decoded == [publish])
        #expect(input.readableBytes == 0)
    }

    @Test("two packets in one buffer decode in order")
    func twoPacketsInOneBuffer() throws {
        let first = MQTTPacket.publish(PublishPacket(topic: "a", payload: buffer("1"), qos: .atLeastOnce, packetID: 1))
        let second = MQTTPacket.puback(AckPacket(packetID: 9, reasonCode: .notAuthorized))
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        var input = buffer(try encode(first, .v5) + encode(second, .v5))
        #expect(try decoder.decode(from: &input) == first)
        #expect(try decoder.decode(from: &input) == second)
        #expect(try decoder.decode(from: &input) == nil)
        #expect(input.readableBytes == 0)
    }

    @Test("a whole session in one buffer", arguments: [ProtocolVersion.v3_1_1, .v5])
    func wholeSessionInOneBuffer(_ version: ProtocolVersion) throws {
        let samples = Samples.all.filter { $0.version == version && $0.packet.type != .connect }
        let connect = MQTTPacket.connect(ConnectPacket(protocolVersion: version, clientID: "session"))
        let packets = [connect] + samples.map(\.packet)
        var bytes: [UInt8] = []
        for packet in packets { bytes += try encode(packet, version) }
        // The server side learns the version from the first packet and decodes the rest with it.
        #expect(try decodeAll(bytes, version: nil) == packets)
    }

    @Test("a whole packet followed by part of the next: the part is left for later")
    func packetThenPartial() throws {
        let ping = try encode(.pingreq, .v5)
        let publish = try encode(.publish(PublishPacket(topic: "a/b", payload: buffer("xyz"))), .v5)
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        var input = buffer(ping + publish.prefix(4))
        #expect(try decoder.decode(from: &input) == .pingreq)
        #expect(try decoder.decode(from: &input) == nil)
        #expect(input.bytes == Array(publish.prefix(4)))
        input.writeBytes(publish.dropFirst(4))
        #expect(try decoder.decode(from: &input) == .publish(PublishPacket(topic: "a/b", payload: buffer("xyz"))))
        #expect(input.readableBytes == 0)
    }

    @Test("incomplete fixed headers wait for more bytes", arguments: [
        [] as [UInt8], [0x30], [0x30, 0x80], [0x30, 0xFF, 0xFF], [0x30, 0xFF, 0xFF, 0xFF],
    ])
    func incompleteHeaders(_ bytes: [UInt8]) throws {
        var decoder = MQTTPacketDecoder(protocolVersion: .v5)
        var input = buffer(bytes)
        #expect(try decoder.decode(from: &input) == nil)
        #expect(input.readableBytes == bytes.count)
    }

    @Test("a decoder reading from a buffer that does not start at index 0")
    func nonZeroReaderIndex() throws {
        var input = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE] + minimalConnectV5 + [0xC0, 0x00])
        input.moveReaderIndex(forwardBy: 3)
        var decoder = MQTTPacketDecoder()
        #expect(try decoder.decode(from: &input) == .connect(ConnectPacket(clientID: "a")))
        #expect(try decoder.decode(from: &input) == .pingreq)
        #expect(input.readableBytes == 0)
    }
}
