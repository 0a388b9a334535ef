import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import MQTTCore

/// The NIO adapters only loop the parser; these tests check that looping under NIO's own decoder verifier
/// (drip feed, many packets at once, channel teardown) and in an EmbeddedChannel pipeline.
@Suite("NIO adapters")
struct AdapterTests {
    static func pairs(_ version: ProtocolVersion) throws -> [(ByteBuffer, [MQTTPacket])] {
        var pairs: [(ByteBuffer, [MQTTPacket])] = []
        for sample in Samples.small where sample.version == version {
            pairs.append((buffer(try encode(sample.packet, version)), [sample.packet]))
        }
        // Several packets in one input.
        let burst: [MQTTPacket] = [.pingreq, .puback(AckPacket(packetID: 3)), .pingresp]
        pairs.append((buffer(try burst.flatMap { try encode($0, version) }), burst))
        return pairs
    }

    @Test("ByteToMessageDecoderVerifier accepts the adapter on a client-side decoder",
          arguments: [ProtocolVersion.v3_1_1, .v5])
    func verifierClientSide(_ version: ProtocolVersion) throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: Self.pairs(version)) {
            MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(protocolVersion: version))
        }
    }

    @Test("ByteToMessageDecoderVerifier accepts the adapter on a server-side decoder",
          arguments: [ProtocolVersion.v3_1_1, .v5])
    func verifierServerSide(_ version: ProtocolVersion) throws {
        // The verifier shuffles inputs, so a fresh server decoder gets one input that starts with CONNECT.
        let session: [MQTTPacket] = [
            .connect(ConnectPacket(protocolVersion: version, clientID: "c")),
            .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription("a/#", qos: .atLeastOnce)])),
            .publish(PublishPacket(topic: "a/b", payload: buffer("p"), qos: .atLeastOnce, packetID: 2)),
            .pingreq,
            .disconnect(DisconnectPacket()),
        ]
        let bytes = try session.flatMap { try encode($0, version) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(buffer(bytes), session)]) {
            MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder())
        }
    }

    @Test("a codec error is fired down the pipeline and nothing is decoded after it")
    func errorsReachThePipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoderAdapter(
            decoder: MQTTPacketDecoder())))
        do {
            try channel.writeInbound(buffer([0xC0, 0x00]))
            Issue.record("a PINGREQ before CONNECT was accepted")
        } catch let error as MQTTCodecError {
            #expect(error.kind == .protocolError)
        }
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)

        // Once failed, later bytes (even a valid CONNECT) produce no packets.
        _ = try? channel.writeInbound(buffer(minimalConnectV5))
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        _ = try? channel.finish()
    }

    @Test("a packet too large is refused as soon as its header arrives")
    func packetTooLargeThroughThePipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoderAdapter(
            decoder: MQTTPacketDecoder(protocolVersion: .v5, maximumPacketSize: 1_024))))
        #expect(throws: MQTTCodecError.self) { try channel.writeInbound(buffer([0x30, 0x80, 0x80, 0x01])) }
        _ = try? channel.finish()
    }

    @Test("a partial packet at EOF is dropped without an error; complete ones are delivered")
    func partialPacketAtEOF() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoderAdapter(
            decoder: MQTTPacketDecoder(protocolVersion: .v5))))
        let publish = try encode(.publish(PublishPacket(topic: "a", payload: buffer("xyz"))), .v5)
        try channel.writeInbound(buffer([0xC0, 0x00] + publish.prefix(3)))
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingreq)
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("the encoder adapter writes what MQTTPacketEncoder writes", arguments: Samples.small)
    func encoderAdapter(_ sample: PacketCase) throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(MQTTPacketEncoderAdapter(version: sample.version)))
        try channel.writeOutbound(sample.packet)
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(written.bytes == (try encode(sample.packet, sample.version)))
        #expect(try channel.finish().isClean)
    }

    @Test("the encoder adapter surfaces an encoding error")
    func encoderAdapterError() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(MQTTPacketEncoderAdapter(version: .v3_1_1)))
        #expect(throws: MQTTCodecError.self) { try channel.writeOutbound(MQTTPacket.auth(AuthPacket())) }
        _ = try? channel.finish()
    }

    @Test("client pipeline to server pipeline: what one side writes, the other reads",
          arguments: [ProtocolVersion.v3_1_1, .v5])
    func clientToServer(_ version: ProtocolVersion) throws {
        let client = EmbeddedChannel(handler: MessageToByteHandler(MQTTPacketEncoderAdapter(version: version)))
        let server = EmbeddedChannel(handler: ByteToMessageHandler(MQTTPacketDecoderAdapter(
            decoder: MQTTPacketDecoder())))
        let packets = [MQTTPacket.connect(ConnectPacket(protocolVersion: version, clientID: "c"))]
            + Samples.all.filter { $0.version == version && $0.packet.type != .connect }.map(\.packet)
        for packet in packets { try client.writeOutbound(packet) }
        while let bytes = try client.readOutbound(as: ByteBuffer.self) {
            // Deliver in two uneven pieces to cross packet boundaries.
            var bytes = bytes
            let first = bytes.readSlice(length: bytes.readableBytes / 3)!
            try server.writeInbound(first)
            try server.writeInbound(bytes)
        }
        var received: [MQTTPacket] = []
        while let packet = try server.readInbound(as: MQTTPacket.self) { received.append(packet) }
        #expect(received == packets)
        #expect(try client.finish().isClean)
        #expect(try server.finish().isClean)
    }
}
