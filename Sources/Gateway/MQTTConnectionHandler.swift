import Broker
import DequeModule
import DeviceIdentity
import Foundation
import Logging
import MQTTCore
import NIOCore
import NIOSSL
import NIOTLS

/// The per-connection channel handler: it turns channel events into broker events and carries out the
/// broker's actions. It holds no protocol logic of its own, only the transport's part of flow control:
/// reading stops while a rate limit pause runs, while the socket cannot take more output, and while a
/// resumed TLS session's certificate is being checked.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    /// The namespace's broker and registry snapshot. Constants: the handler is made once the server name
    /// (or the WebSocket signature) has chosen the namespace, and a constant reference costs the message
    /// path no retain, release or exclusivity check per packet.
    let host: BrokerHost
    let id: ConnectionID
    let peerIdentity: PeerIdentityBox
    let directory: DeviceDirectory
    let logger: Logger
    private var context: ChannelHandlerContext?
    private var version: ProtocolVersion?
    /// The client's MQTT 5 Maximum Packet Size (CONNECT), which every packet sent to it respects.
    private var peerMaximumPacketSize = Int.max
    /// The client id the CONNECT asked for, for log entries written outside the broker.
    private var clientID: String?
    private var registered = false
    /// Who this connection is, once the handshake proved it.
    private var info: ConnectionInfo?
    private var active = true
    private var needsFlush = false
    private var closing = false
    private var awaitingIdentity = false
    private var resumeReading: Scheduled<Void>?
    private var resumeAt: NIODeadline?
    /// Packets decoded from bytes already read when reading stopped. They are processed, in order, when
    /// reading resumes. Bounded by what the reads in flight when it stopped delivered.
    private var backlog = Deque<MQTTPacket>()
    private var heldQoS1 = 0
    private var handshakeTimeout: Scheduled<Void>?
    private var forcedClose: Scheduled<Void>?
    private var droppedWhileUnwritable = 0
    /// True between a channelRead and its channelReadComplete.
    private(set) var isReading = false
    private var deferredRemote: BrokerHost.RemoteBatches = [:]

    /// How long a close waits for queued output (a DISCONNECT) before the socket is closed anyway: a peer
    /// that stopped reading must not keep its socket and buffers alive.
    static let closeGrace = TimeAmount.seconds(2)

    init(host: BrokerHost, id: ConnectionID, peerIdentity: PeerIdentityBox, directory: DeviceDirectory, logger: Logger) {
        self.host = host
        self.id = id
        self.peerIdentity = peerIdentity
        self.directory = directory
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A peer that never finishes the TLS handshake must not hold a socket forever.
        let timeout = TimeAmount.seconds(Int64(host.limits.connectTimeout))
        handshakeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.registered, let context = self.context else { return }
            self.host.recordHandshakeFailure("TLS handshake not completed within \(self.host.limits.connectTimeout) s",
                                            remote: context.channel.remoteAddress)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        dispatchDeferred()
        handshakeTimeout?.cancel()
        resumeReading?.cancel()
        forcedClose?.cancel()
        self.context = nil
    }

    // MARK: identity

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            if let principal = peerIdentity.certificateID {
                register(principal: principal)
            } else {
                verifyResumedSession(context: context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A connection whose principal was proven before this handler was added (MQTT over WebSocket:
    /// the upgrade request's SigV4 signature or the TLS client certificate).
    func authenticated(as principal: String) {
        register(principal: principal)
    }

    private func register(principal: String) {
        guard let context, active, context.channel.isActive else { return }
        handshakeTimeout?.cancel()
        handshakeTimeout = nil
        let remote = context.channel.remoteAddress
        let info = ConnectionInfo(
            id: id, principalID: principal, sourceIP: remote?.ipAddress ?? "unknown", sourcePort: remote?.port ?? 0,
            sessionIdentifier: UUIDText.random(), serverName: peerIdentity.serverName
        )
        registered = true
        self.info = info
        host.register(info, handle: BrokerHost.Handle(eventLoop: context.eventLoop, channel: context.channel,
                                                      handler: NIOLoopBound(self, eventLoop: context.eventLoop)), from: self)
        // Packets that arrived while a resumed session's certificate was being checked.
        drainBacklog()
        updateReading()
    }

    /// A resumed TLS session skips the verification callback, so the certificate the session carries is
    /// verified again now (validity at the current time) before the connection is accepted. Only the leaf
    /// is in the session: devices whose certificate needs an intermediate must do a full handshake.
    private func verifyResumedSession(context: ChannelHandlerContext) {
        guard let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate(),
              let der = try? certificate.toDERBytes() else {
            host.recordHandshakeFailure("MQTT over TLS needs a client certificate and none was presented", remote: context.channel.remoteAddress)
            context.close(promise: nil)
            return
        }
        awaitingIdentity = true
        updateReading()
        let directory = self.directory
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        Task {
            let result = await directory.authenticate(derChain: [der], at: Date())
            loop.execute {
                let handler = handler.value
                handler.awaitingIdentity = false
                guard handler.active else { return }
                switch result {
                case .success(let certificateID):
                    handler.peerIdentity.trusted(certificateID)
                    handler.register(principal: certificateID)
                case .failure(let rejection):
                    handler.host.recordHandshakeFailure("resumed TLS session: \(rejection)", remote: handler.context?.channel.remoteAddress)
                    handler.backlog.removeAll()
                    handler.context?.close(promise: nil)
                }
            }
        }
    }

    // MARK: reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReading = true
        let packet = unwrapInboundIn(data)
        guard registered else {
            // Held until the resumed session's certificate is verified; reading is off meanwhile.
            if awaitingIdentity { backlog.append(packet) }
            return
        }
        if resumeAt != nil || !backlog.isEmpty {
            hold(packet)
            return
        }
        handle(packet)
    }

    /// Holds a packet read while reading is paused.
    private func hold(_ packet: MQTTPacket) {
        backlog.append(packet)
        guard case .publish(let publish) = packet, publish.qos == .atLeastOnce else { return }
        heldQoS1 += 1
        // Every held QoS 1 publish is unacknowledged. MQTT 5 announced a Receive Maximum; going past it
        // breaks the protocol (DISCONNECT 0x93). 3.1.1 has no such promise: its reads simply stay paused.
        if version == .v5 && heldQoS1 > host.limits.receiveMaximum {
            backlog.removeAll()
            heldQoS1 = 0
            let now = SystemClock.now()
            host.process(from: self) { $0.receiveMaximumExceeded(on: self.id, at: now) }
        }
    }

    private func handle(_ packet: MQTTPacket) {
        var preauthorized: Preauthorization?
        if case .connect(let connect) = packet, version == nil {
            version = connect.protocolVersion
            clientID = connect.clientID
            if connect.protocolVersion == .v5, let maximum = connect.properties.maximumPacketSize {
                peerMaximumPacketSize = Int(maximum)
            }
            // Policies are compiled here, on this connection's event loop, not under the broker's lock;
            // the broker uses the result only if nothing changed in the registry meanwhile.
            if let authorizer = host.preauthorizer, let info, let request = Broker.authorizationRequest(for: connect, on: info) {
                preauthorized = Preauthorization(request: request, authorization: authorizer.authorization(for: request))
            }
        }
        let now = SystemClock.now()
        host.process(from: self) { $0.receive(packet, from: self.id, at: now, preauthorized: preauthorized) }
    }

    /// Processes held packets until one of them starts a new pause.
    private func drainBacklog() {
        while registered, !closing, resumeAt == nil, let packet = backlog.popFirst() {
            if case .publish(let publish) = packet, publish.qos == .atLeastOnce { heldQoS1 -= 1 }
            handle(packet)
        }
        flushIfNeeded()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        flushIfNeeded()
        dispatchDeferred()
        context.fireChannelReadComplete()
    }

    /// Keeps batches for other event loops until the end of the current read burst.
    func deferRemote(_ batches: BrokerHost.RemoteBatches) {
        for (key, (loop, actions)) in batches {
            deferredRemote[key, default: (loop, [])].1.append(contentsOf: actions)
        }
    }

    private func dispatchDeferred() {
        guard !deferredRemote.isEmpty else { return }
        let batches = deferredRemote
        deferredRemote.removeAll(keepingCapacity: true)
        BrokerHost.dispatch(batches)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A client that does not read what it asks for (PINGREQ, SUBSCRIBE, QoS 1) is not read from until
        // its socket drains, so its answers cannot pile up in memory.
        updateReading()
        if context.channel.isWritable && droppedWhileUnwritable > 0 {
            host.recordSlowConsumer(id: id, dropped: droppedWhileUnwritable, remote: context.channel.remoteAddress)
            droppedWhileUnwritable = 0
        }
        context.fireChannelWritabilityChanged()
    }

    /// Reading runs only when nothing holds it back.
    private func updateReading() {
        guard let context, active, !closing else { return }
        let wanted = resumeAt == nil && !awaitingIdentity && context.channel.isWritable
        let current = (try? context.channel.syncOptions?.getOption(ChannelOptions.autoRead)) ?? true
        guard wanted != current else { return }
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: wanted)
        if wanted { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isReading = false
        dispatchDeferred()
        active = false
        if registered {
            // What was read before the peer closed still counts (a DISCONNECT after throttled publishes
            // must not turn into a lost connection that publishes the will). Pauses no longer matter.
            resumeAt = nil
            resumeReading?.cancel()
            while !closing, let packet = backlog.popFirst() { handle(packet) }
            registered = false
            host.unregister(id, from: self)
            dispatchDeferred()
        }
        backlog.removeAll()
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
        if !registered && !awaitingIdentity {
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
            // Sized for the whole packet up front, so a PUBLISH is not reallocated while it is encoded.
            var buffer = context.channel.allocator.buffer(capacity: Self.capacityHint(for: packet))
            do {
                // Before CONNECT is decoded (a refused protocol level) answer in 3.1.1 format.
                try MQTTPacketEncoder.encode(packet, version: version ?? .v3_1_1, maximumPacketSize: peerMaximumPacketSize, into: &buffer)
            } catch {
                if error.kind == .packetTooLarge, packet.type != .publish {
                    // [MQTT-3.1.2-24]: nothing larger than the client's Maximum Packet Size may be sent, and a
                    // CONNACK, SUBACK or DISCONNECT cannot be skipped: the connection ends without it.
                    host.recordOversizedPacket(id: id, packet: packet.type, details: error.message,
                                                clientID: clientID, principalID: info?.principalID, remote: context.channel.remoteAddress)
                    closing = true
                    needsFlush = false
                    context.close(promise: nil)
                } else {
                    logger.error("could not encode \(packet.type): \(error)", metadata: ["connection": "\(id)"])
                }
                return false
            }
            context.write(wrapOutboundOut(buffer), promise: nil)
            let wasClean = !needsFlush
            needsFlush = true
            return wasClean
        case .close:
            closing = true
            needsFlush = false
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { [weak self] _ in
                self?.context?.close(promise: nil)
            }
            forcedClose = context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) { [weak self] in
                self?.context?.close(promise: nil)
            }
            return false
        case .pauseReading(_, let until):
            pauseReading(until: NIODeadline.uptimeNanoseconds(until.uptimeNanoseconds))
            return false
        case .resumeReading:
            guard resumeAt != nil else { return false }
            resumeReading?.cancel()
            resumeAt = nil
            // Deferred, so packets are not processed while the broker's actions are being carried out.
            context.eventLoop.assumeIsolated().execute { [weak self] in
                guard let self, self.resumeAt == nil else { return }
                self.drainBacklog()
                self.updateReading()
            }
            return false
        case .log, .directMessageAcknowledged, .serviceRequest, .presenceChanged, .ruleMessage:
            return false
        }
    }

    /// Room for the fixed header, topic, packet id and typical properties; larger properties grow it.
    static func capacityHint(for packet: MQTTPacket) -> Int {
        guard case .publish(let publish) = packet else { return 64 }
        return publish.payload.readableBytes + publish.topic.utf8.count + 32
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
        updateReading()
        resumeReading = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.resumeAt = nil
            self.drainBacklog()
            self.updateReading()
        }
    }
}

/// Lower-case random UUID text (version 4), for session identifiers.
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
