import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// The API listener's connections: TLS, then HTTP/1.1 with an idle timeout, and no socket held by a
/// client that never finishes the TLS handshake (the MQTT and shared ports do the same). Hummingbird's
/// `TLSChannel` with a deadline between TLS and HTTP.
struct APIServerChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let sslContext: NIOSSLContext
    let handshakeTimeout: TimeAmount
    let open: OpenConnections

    init(responder: @escaping HTTPChannelHandler.Responder, tlsConfiguration: TLSConfiguration,
         handshakeTimeout: TimeAmount, idleTimeout: TimeAmount, maximumConnections: Int) throws {
        self.base = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idleTimeout))
        self.sslContext = try NIOSSLContext(configuration: tlsConfiguration)
        self.handshakeTimeout = handshakeTimeout
        self.open = OpenConnections(maximum: maximumConnections)
    }

    var responder: HTTPChannelHandler.Responder { base.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Hummingbird stops accepting at the maximum, but one read of the listening socket may accept a
        // few connections at once: those beyond the maximum are closed here, so the cap holds exactly.
        guard open.admit() else {
            logger.notice("API connection closed: \(open.maximum) connections are open already")
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.inputClosed)
        }
        let open = self.open
        channel.closeFuture.whenComplete { _ in open.release() }
        return channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(NIOSSLServerHandler(context: sslContext))
            try sync.addHandler(TLSHandshakeDeadlineHandler(timeout: handshakeTimeout, logger: logger))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose TLS handshake has not completed `timeout` after the connection was set up
/// (a TCP connection that never speaks, or speaks something else, must not hold a socket and its
/// buffers), then steps out of the pipeline.
final class TLSHandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let logger: Logger
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let logger = self.logger
        let seconds = Double(timeout.nanoseconds) / 1e9
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            logger.notice("API connection closed: TLS handshake not completed within \(seconds) s",
                          metadata: ["remote": "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")"])
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The number of connections an API listener holds, bounded.
final class OpenConnections: Sendable {
    let maximum: Int
    private let count = Mutex(0)

    init(maximum: Int) { self.maximum = maximum }

    func admit() -> Bool {
        count.withLock { count in
            guard count < maximum else { return false }
            count += 1
            return true
        }
    }

    func release() { count.withLock { $0 -= 1 } }
}
