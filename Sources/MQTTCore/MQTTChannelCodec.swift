import NIOCore

/// The thin NIO adapter over `MQTTPacketDecoder`: it only loops the parser. Errors are fired down the
/// pipeline as `MQTTCodecError`, after which the decoder stops; the connection handler answers and closes.
public struct MQTTPacketDecoderAdapter: ByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    public var decoder: MQTTPacketDecoder

    public init(decoder: MQTTPacketDecoder) {
        self.decoder = decoder
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try decoder.decode(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial packet at EOF is simply dropped with the connection.
        while let packet = try decoder.decode(from: &buffer) {
            context.fireChannelRead(Self.wrapInboundOut(packet))
        }
        return .needMoreData
    }
}

/// Encodes packets for a connection of a known protocol version (clients, the bench tool).
public struct MQTTPacketEncoderAdapter: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public let version: ProtocolVersion

    public init(version: ProtocolVersion) {
        self.version = version
    }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try MQTTPacketEncoder.encode(data, version: version, into: &out)
    }
}
