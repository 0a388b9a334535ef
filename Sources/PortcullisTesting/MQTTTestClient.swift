import DeviceIdentity
import MQTTCore
import NIOCore
import NIOPosix
import NIOSSL

/// A raw MQTT client for tests, on the project's own codec: it sends exactly the packets (or bytes) it
/// is given and hands back every packet the server sends, so tests can check the server byte for byte.
public final class MQTTTestClient: Sendable {
    public enum ClientError: Error, CustomStringConvertible {
        case timeout(String)
        case closed
        case unexpected(MQTTPacket)

        public var description: String {
            switch self {
            case .timeout(let what): "timed out waiting for \(what)"
            case .closed: "the server closed the connection"
            case .unexpected(let packet): "unexpected \(packet)"
            }
        }
    }

    public let channel: any Channel
    public let version: ProtocolVersion
    private let inbound: AsyncThrowingStream<MQTTPacket, any Error>
    private let iterator: IteratorBox

    final class IteratorBox: @unchecked Sendable {
        var iterator: AsyncThrowingStream<MQTTPacket, any Error>.AsyncIterator
        init(_ iterator: AsyncThrowingStream<MQTTPacket, any Error>.AsyncIterator) { self.iterator = iterator }
    }

    /// Collects decoded packets, and ends the stream on close or error.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = MQTTPacket
        let continuation: AsyncThrowingStream<MQTTPacket, any Error>.Continuation
        init(_ continuation: AsyncThrowingStream<MQTTPacket, any Error>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }
        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            continuation.finish(throwing: error)
            context.close(promise: nil)
        }
    }

    private init(channel: any Channel, version: ProtocolVersion, inbound: AsyncThrowingStream<MQTTPacket, any Error>) {
        self.channel = channel
        self.version = version
        self.inbound = inbound
        self.iterator = IteratorBox(inbound.makeAsyncIterator())
    }

    /// Opens a TLS connection. `credential` nil means no client certificate. Completes after the TCP
    /// connect; a refused TLS handshake shows up as a thrown error on the first send or receive.
    public static func open(
        host: String = "127.0.0.1", port: Int, caPEM: String, credential: IssuedCredential?,
        version: ProtocolVersion = .v5, serverHostname: String = "localhost",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MQTTTestClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.minimumTLSVersion = .tlsv12
        if let credential {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(credential.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(credential.privateKeyPEM.utf8), format: .pem))
        }
        let context = try NIOSSLContext(configuration: tls)
        let (stream, continuation) = AsyncThrowingStream<MQTTPacket, any Error>.makeStream()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverHostname))
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(protocolVersion: version))))
                    try sync.addHandler(Collector(continuation))
                }
            }
            .connect(host: host, port: port).get()
        return MQTTTestClient(channel: channel, version: version, inbound: stream)
    }

    public func send(_ packet: MQTTPacket) async throws {
        var buffer = channel.allocator.buffer(capacity: 64)
        try MQTTPacketEncoder.encode(packet, version: version, into: &buffer)
        try await channel.writeAndFlush(buffer)
    }

    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The next packet from the server, or an error if it closes or nothing comes within `timeout`.
    public func next(timeout: Duration = .seconds(60)) async throws -> MQTTPacket {
        enum Outcome: Sendable { case packet(MQTTPacket), closed, timedOut }
        let box = iterator
        let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                var iterator = box.iterator
                defer { box.iterator = iterator }
                return try await iterator.next().map(Outcome.packet) ?? .closed
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .closed
        }
        switch outcome {
        case .packet(let packet): return packet
        case .closed: throw ClientError.closed
        case .timedOut: throw ClientError.timeout("a packet")
        }
    }

    /// Waits for the server to close the connection, returning the packets it sent first.
    public func waitForClose(timeout: Duration = .seconds(60)) async throws -> [MQTTPacket] {
        var packets: [MQTTPacket] = []
        while true {
            do {
                packets.append(try await next(timeout: timeout))
            } catch ClientError.closed {
                return packets
            } catch let error as NIOSSLError where error == .uncleanShutdown {
                return packets
            }
        }
    }

    /// CONNECT and wait for CONNACK.
    @discardableResult
    public func connect(_ connect: ConnectPacket) async throws -> ConnAckPacket {
        try await send(.connect(connect))
        let packet = try await next()
        guard case .connack(let connack) = packet else { throw ClientError.unexpected(packet) }
        return connack
    }

    @discardableResult
    public func connect(clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60, will: Will? = nil,
                        properties: MQTTProperties = .none) async throws -> ConnAckPacket {
        try await connect(ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive,
                                        clientID: clientID, will: will, properties: properties))
    }

    /// SUBSCRIBE and wait for SUBACK (skipping anything else, like retained messages, that comes first).
    @discardableResult
    public func subscribe(_ filters: [TopicSubscription], packetID: UInt16 = 1, properties: MQTTProperties = .none) async throws -> SubAckPacket {
        try await send(.subscribe(SubscribePacket(packetID: packetID, subscriptions: filters, properties: properties)))
        while true {
            let packet = try await next()
            if case .suback(let suback) = packet, suback.packetID == packetID { return suback }
        }
    }

    @discardableResult
    public func subscribe(_ filter: String, qos: QoS = .atLeastOnce, packetID: UInt16 = 1) async throws -> SubAckPacket {
        try await subscribe([TopicSubscription(filter, qos: qos)], packetID: packetID)
    }

    /// PUBLISH; for QoS 1 waits for the PUBACK.
    @discardableResult
    public func publish(_ topic: String, _ payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
                        packetID: UInt16 = 1, properties: PublishProperties = .none) async throws -> AckPacket? {
        try await send(.publish(PublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain,
                                              packetID: qos == .atMostOnce ? nil : packetID, properties: properties)))
        guard qos == .atLeastOnce else { return nil }
        while true {
            let packet = try await next()
            if case .puback(let ack) = packet, ack.packetID == packetID { return ack }
        }
    }

    /// The next PUBLISH (acknowledging it if QoS 1), skipping other packets.
    public func nextPublish(timeout: Duration = .seconds(60), acknowledge: Bool = true) async throws -> PublishPacket {
        while true {
            let packet = try await next(timeout: timeout)
            if case .publish(let publish) = packet {
                if acknowledge, let id = publish.packetID { try await send(.puback(AckPacket(packetID: id))) }
                return publish
            }
        }
    }

    /// Checks that nothing is waiting to be read, without sleeping: sends PINGREQ and returns whatever
    /// arrives before the PINGRESP (the server answers in order). Note that a `next` that timed out ends
    /// the stream, so tests check for absence this way.
    public func drainUntilPing() async throws -> [MQTTPacket] {
        try await send(.pingreq)
        var before: [MQTTPacket] = []
        while true {
            let packet = try await next()
            if packet == .pingresp { return before }
            before.append(packet)
        }
    }

    public func close() async {
        try? await channel.close()
    }
}
