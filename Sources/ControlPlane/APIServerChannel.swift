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
        // few connections at once, and its count drops a moment before ours when a connection closes. A
        // connection beyond the maximum waits here, unregistered and unread (the kernel holds its bytes),
        // until one of ours closes: the cap holds exactly and no client is refused for a race.
        let open = self.open
        let admitted = channel.eventLoop.makePromise(of: Void.self)
        if open.admit(orWait: { granted in
            if granted { admitted.succeed() } else { admitted.fail(ChannelError.ioOnClosedChannel) }
        }) {
            admitted.succeed()
        }
        return admitted.futureResult.flatMapErrorThrowing { error in
            channel.close(promise: nil)
            throw error
        }.flatMap {
            channel.closeFuture.whenComplete { _ in open.release() }
            return setUpTLSThenHTTP(channel: channel, logger: logger)
        }
    }

    private func setUpTLSThenHTTP(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
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

/// The number of connections an API listener holds, bounded; connections over the bound wait in order.
final class OpenConnections: Sendable {
    let maximum: Int
    private let state = Mutex(State())

    private struct State {
        var count = 0
        var waiting: [@Sendable (Bool) -> Void] = []
    }

    init(maximum: Int) { self.maximum = maximum }

    /// True when a slot was free and is now taken; otherwise `wait` runs once: with true when a slot is
    /// handed over, with false when the listener goes away first.
    func admit(orWait wait: @escaping @Sendable (Bool) -> Void) -> Bool {
        state.withLock { state in
            guard state.count < maximum else {
                state.waiting.append(wait)
                return false
            }
            state.count += 1
            return true
        }
    }

    /// Frees a slot, or hands it to the oldest waiting connection.
    func release() {
        let next: (@Sendable (Bool) -> Void)? = state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.count -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?(true)
    }

    deinit {
        for wait in state.withLock({ $0.waiting }) { wait(false) }
    }

    var waitingCount: Int { state.withLock { $0.waiting.count } }
}
