import DeviceIdentity
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One TLS handshake against a live server, as a device does it: with a device certificate, a chosen
/// server name and TLS settings, then an MQTT CONNECT, so the caller learns what the server offered.
enum TLSProbe {
    struct Handshake {
        var version: TLSVersion?
        var leaf: NIOSSLCertificate?
    }

    /// Throws if the server refuses the handshake; returns once the CONNACK arrived. `serverHostname`
    /// nil sends no SNI.
    static func handshake(port: Int, caPEM: String, device: IssuedCredential, serverHostname: String? = "localhost",
                          configure: (inout TLSConfiguration) -> Void = { _ in }) async throws -> Handshake {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(device.certificatePEM.utf8)).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(device.privateKeyPEM.utf8), format: .pem))
        if serverHostname == nil { tls.certificateVerification = .noHostnameVerification }
        configure(&tls)
        let context = try NIOSSLContext(configuration: tls)
        let done = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(ConnAckWaiter(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        // A liveness guard only: a probe that never hears back fails clearly instead of hanging the run.
        let deadline = done.futureResult.eventLoop.scheduleTask(in: .seconds(120)) { done.fail(ChannelError.connectTimeout(.seconds(120))) }
        defer { deadline.cancel() }
        do {
            try await done.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        let version = try await channel.nioSSL_tlsVersion().get()
        let leaf = try await channel.nioSSL_peerCertificate().get()
        try? await channel.close()
        return Handshake(version: version, leaf: leaf)
    }
}

/// Sends an MQTT CONNECT once TLS is up and completes `done` with the CONNACK (or the failure).
private final class ConnAckWaiter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            // MQTT 3.1.1 CONNECT, client id "tls-probe", clean session, keep-alive 60.
            let connect: [UInt8] = [0x10, 0x15, 0x00, 0x04] + Array("MQTT".utf8) + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x09] + Array("tls-probe".utf8)
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: connect)), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == 0x20 { done.succeed(()) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
    }
}
