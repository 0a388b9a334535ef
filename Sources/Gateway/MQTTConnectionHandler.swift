import Broker
import DeviceIdentity
import Logging
import MQTTCore
import NIOCore
import NIOSSL
import NIOTLS

/// The per-connection channel handler: it turns channel events into broker events and carries out the
/// broker's actions. It holds no protocol logic of its own.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    let host: BrokerHost
    let id: ConnectionID
    let peerIdentity: PeerIdentityBox
    let logger: Logger
    private var context: ChannelHandlerContext?
    private var version: ProtocolVersion?
    private var registered = false
    private var needsFlush = false
    private var closing = false
    private var resumeReading: Scheduled<Void>?
    private var resumeAt: NIODeadline?
    /// Packets decoded from bytes already read when a rate limit paused the connection. They wait here
    /// and are processed, at the limited rate, when reading resumes. Bounded by what one read delivers.
    private var backlog = CircularBuffer<MQTTPacket>()
    private var handshakeTimeout: Scheduled<Void>?
    private var droppedWhileUnwritable = 0

    init(host: BrokerHost, id: ConnectionID, peerIdentity: PeerIdentityBox, logger: Logger) {
        self.host = host
        self.id = id
        self.peerIdentity = peerIdentity
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A peer that never finishes the TLS handshake must not hold a socket forever.
        let timeout = TimeAmount.seconds(Int64(host.limits.connectTimeout))
        handshakeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.registered else { return }
            self.context?.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeTimeout?.cancel()
        resumeReading?.cancel()
        self.context = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            handshakeTimeout?.cancel()
            guard let principal = peerIdentity.certificateID else {
                // Unreachable: the handshake succeeds only after our verifier trusted the chain.
                context.close(promise: nil)
                return
            }
            let remote = context.channel.remoteAddress
            let info = ConnectionInfo(
                id: id, principalID: principal, sourceIP: remote?.ipAddress ?? "unknown", sourcePort: remote?.port ?? 0,
                sessionIdentifier: UUIDText.random()
            )
            registered = true
            host.register(info, handle: BrokerHost.Handle(eventLoop: context.eventLoop, handler: NIOLoopBound(self, eventLoop: context.eventLoop)), from: self)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        guard registered else { return }
        if resumeAt != nil || !backlog.isEmpty {
            backlog.append(packet)
            return
        }
        handle(packet)
    }

    private func handle(_ packet: MQTTPacket) {
        if case .connect(let connect) = packet, version == nil { version = connect.protocolVersion }
        let now = SystemClock.now()
        host.process(from: self) { $0.receive(packet, from: self.id, at: now) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if registered {
            registered = false
            host.unregister(id, from: self)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let codecError = error as? MQTTCodecError {
            if registered {
                let now = SystemClock.now()
                host.process(from: self) { $0.decodeFailed(codecError, on: self.id, at: now) }
            } else {
                context.close(promise: nil)
            }
            return
        }
        if !registered {
            // The TLS handshake failed: no certificate, an untrusted or expired one, or not TLS at all.
            host.recordHandshakeFailure(peerIdentity.rejection?.description ?? Self.describeHandshakeError(error),
                                        remote: context.channel.remoteAddress)
        }
        context.close(promise: nil)
    }

    /// A short reason for the log, without BoringSSL's source paths.
    static func describeHandshakeError(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || text.contains("CERTIFICATE_REQUIRED") {
            return "the client sent no certificate"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") { return "not a TLS connection" }
        if text.contains("UNSUPPORTED_PROTOCOL") { return "unsupported TLS version" }
        if text.contains("NO_SHARED_CIPHER") { return "no shared cipher suite" }
        if let sslError = error as? NIOSSLError, case .uncleanShutdown = sslError { return "the client closed the connection" }
        return "TLS error"
    }

    // MARK: carrying out broker actions (always on this handler's event loop)

    /// Returns true if this made the handler need a flush (the first write since the last flush).
    @discardableResult
    func apply(_ action: BrokerAction) -> Bool {
        guard let context, !closing else { return false }
        switch action {
        case .send(_, let packet):
            if case .publish(let publish) = packet, publish.qos == .atMostOnce, !context.channel.isWritable {
                // A subscriber that cannot keep up loses QoS 0 messages, never the broker's memory.
                droppedWhileUnwritable += 1
                return false
            }
            var buffer = context.channel.allocator.buffer(capacity: 64)
            do {
                // Before CONNECT is decoded (a refused protocol level) answer in 3.1.1 format.
                try MQTTPacketEncoder.encode(packet, version: version ?? .v3_1_1, into: &buffer)
            } catch {
                logger.error("could not encode \(packet.type): \(error)", metadata: ["connection": "\(id)"])
                return false
            }
            context.write(wrapOutboundOut(buffer), promise: nil)
            let wasClean = !needsFlush
            needsFlush = true
            return wasClean
        case .close:
            closing = true
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            needsFlush = false
            promise.futureResult.assumeIsolated().whenComplete { [weak self] _ in
                self?.context?.close(promise: nil)
            }
            return false
        case .pauseReading(_, let until):
            pauseReading(until: NIODeadline.uptimeNanoseconds(until.uptimeNanoseconds))
            return false
        case .log:
            return false
        }
    }

    func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    private func pauseReading(until deadline: NIODeadline) {
        guard let context else { return }
        if let resumeAt, resumeAt >= deadline { return }
        resumeAt = deadline
        resumeReading?.cancel()
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        resumeReading = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.resume()
        }
    }

    /// The pause is over: work through the backlog (which may pause again), then read again.
    private func resume() {
        resumeAt = nil
        while resumeAt == nil, !closing, context != nil, let packet = backlog.popFirst() {
            handle(packet)
        }
        flushIfNeeded()
        guard resumeAt == nil, let context else { return }
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        context.read()
    }
}

/// Lower-case random UUID text without Foundation's UUID allocation pattern on hot paths.
enum UUIDText {
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        let bytes = withUnsafeBytes(of: (a, b)) { Array($0) }
        var out = ""
        for (i, byte) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(i) { out += "-" }
            let value = i == 6 ? (byte & 0x0F) | 0x40 : i == 8 ? (byte & 0x3F) | 0x80 : byte
            out += String(value >> 4, radix: 16) + String(value & 0x0F, radix: 16)
        }
        return out
    }
}
