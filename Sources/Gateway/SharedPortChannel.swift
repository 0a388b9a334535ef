import AWSSigV4
import Broker
import DeviceIdentity
import HTTPTypes
import HummingbirdCore
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOSSL
import NIOTLS
import NIOWebSocket
import Registry
import ServiceLifecycle

/// The ALPN names of the shared port (reference 1.2), in the server's order of preference.
public enum SharedPortProtocol {
    /// MQTT with an X.509 client certificate.
    public static let mqttX509 = "x-amzn-mqtt-ca"
    /// HTTPS with an X.509 client certificate.
    public static let httpsX509 = "x-amzn-http-ca"
    /// MQTT with a custom authorizer (not supported yet: refused with a CONNACK that says so).
    public static let mqttCustomAuthorizer = "mqtt"
    public static let offered = [mqttX509, httpsX509, mqttCustomAuthorizer, "http/1.1"]
}

/// A domain configuration's application protocol and authentication type (reference 1.5), applied on
/// the shared port once it knows what a connection is and how it authenticated.
public struct DomainRules: Sendable, Hashable {
    public var name: String
    public var applicationProtocol: String
    public var authenticationType: String

    public static let any = DomainRules(name: "iot:Data-ATS", applicationProtocol: "DEFAULT", authenticationType: "DEFAULT")

    public init(name: String, applicationProtocol: String, authenticationType: String) {
        self.name = name
        self.applicationProtocol = applicationProtocol
        self.authenticationType = authenticationType
    }

    init(_ record: DomainConfigurationRecord) {
        self.init(name: record.name, applicationProtocol: record.applicationProtocol, authenticationType: record.authenticationType)
    }

    public enum Use: String, Sendable {
        case mqtt = "SECURE_MQTT"
        case https = "HTTPS"
        case webSocket = "MQTT_WSS"
    }

    public enum Credential: String, Sendable {
        case certificate = "AWS_X509"
        case sigV4 = "AWS_SIGV4"
    }

    /// Why this domain does not serve `use` authenticated by `credential`, if it does not.
    public func refusal(_ use: Use, _ credential: Credential) -> String? {
        if applicationProtocol != "DEFAULT" && applicationProtocol != use.rawValue {
            return "the domain configuration \(name) serves \(applicationProtocol), not \(use.rawValue)"
        }
        if authenticationType != "DEFAULT" && authenticationType != credential.rawValue {
            return "the domain configuration \(name) authenticates with \(authenticationType), not \(credential.rawValue)"
        }
        return nil
    }
}

/// What an HTTPS request on the shared port knows of its connection: the TLS client certificate (if one
/// was presented and verified), the server name and the domain's rules.
public struct SharedPortPeer: Sendable {
    public var certificateID: String?
    public var serverName: String?
    public var sourceIP: String?
    public var rules: DomainRules
    /// The namespace the server name reached (its `DeviceNamespace.name`): where requests that carry no
    /// signature, only the certificate, belong.
    public var namespace: String?
}

/// One port like AWS's 443 (reference 1.2): TLS with the shared port's security-policy table and ALPN,
/// then by the negotiated protocol: `x-amzn-mqtt-ca` is MQTT with the client certificate; `mqtt` asks
/// for a custom authorizer and is refused with a CONNACK that says so; anything else is HTTP/1.1, where
/// `GET /mqtt` with a WebSocket upgrade (subprotocol `mqtt`) becomes MQTT over WebSocket, authenticated
/// by a SigV4 presigned URL or the client certificate, and every other request goes to the iot-data
/// responder with the connection's certificate (if any) for the request's authorization.
public struct SharedPortChannel: ServerChildChannel {
    public struct Value: ServerChildChannelValue {
        public let channel: any Channel
        let dispatched: EventLoopFuture<Dispatch>
    }

    enum Dispatch: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, SharedPortPeer)
        /// MQTT over TLS or WebSocket, or a refusal: the channel's handlers own it until it closes.
        case pipeline
    }

    /// The principal of a verified presigned URL (its access key id) and the namespace its credential
    /// scope names (nil: the one the server name reached), or why it is refused.
    public typealias PresignedURLVerifier = @Sendable (SigV4Request) -> Result<(accessKeyID: String, namespace: DeviceNamespace?), SigV4Rejection>

    /// The primary namespace's broker (connections whose namespace is not known yet).
    var host: BrokerHost { tls.namespaces.primary.host }
    let tls: GatewayTLS
    let logger: Logger
    let responder: HTTPChannelHandler.Responder
    let withPeer: @Sendable (SharedPortPeer, @Sendable () async -> Void) async -> Void
    let verifyPresignedURL: PresignedURLVerifier
    let httpIdleTimeout: Duration
    private let shutdown = ShutdownOnce()

    /// - Parameters:
    ///   - contexts: the server TLS of the shared port (`port: .shared`: its table, ALPN, optional client certificates).
    ///   - responder: the HTTP responder (iot-data).
    ///   - withPeer: runs one connection's HTTP requests (the body) with what it knows of the peer, for
    ///     the responder to read (a task-local value).
    public init(namespaces: DeviceNamespaces, contexts: ServerTLSDirectory, logger: Logger,
                httpIdleTimeout: Duration = .seconds(60),
                verifyPresignedURL: @escaping PresignedURLVerifier,
                responder: @escaping HTTPChannelHandler.Responder,
                withPeer: @escaping @Sendable (SharedPortPeer, @Sendable () async -> Void) async -> Void) {
        self.tls = GatewayTLS(contexts: contexts, namespaces: namespaces)
        self.logger = logger
        self.httpIdleTimeout = httpIdleTimeout
        self.verifyPresignedURL = verifyPresignedURL
        self.responder = responder
        self.withPeer = withPeer
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let promise = channel.eventLoop.makePromise(of: Dispatch.self)
            let peerIdentity = PeerIdentityBox()
            let dispatcher = SharedPortDispatcher(port: self, peerIdentity: peerIdentity, promise: promise)
            // As on 8883: the Client Hello's server name picks the domain (certificate, policy, rules)
            // before the TLS handler is put in.
            try channel.pipeline.syncOperations.addHandler(
                tls.makeSNIHandler(channel: channel, peerIdentity: peerIdentity, service: .shared, before: dispatcher) { dispatcher.rules = $0 })
            try channel.pipeline.syncOperations.addHandler(dispatcher)
            return Value(channel: channel, dispatched: promise.futureResult)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        // A connection still in its TLS handshake when the server stops is closed, not waited for.
        let pending = await withGracefulShutdownHandler {
            try? await value.dispatched.get()
        } onGracefulShutdown: {
            value.channel.close(promise: nil)
        }
        guard let dispatch = pending else { return }
        switch dispatch {
        case .http(let asyncChannel, let peer):
            let http = HTTP1Channel(responder: responder)
            await withPeer(peer) { await http.handleHTTP(asyncChannel: asyncChannel, logger: logger) }
        case .pipeline:
            let namespaces = tls.namespaces
            let shutdown = self.shutdown
            await withGracefulShutdownHandler {
                try? await value.channel.closeFuture.get()
            } onGracefulShutdown: {
                // MQTT clients are told the server is going away (DISCONNECT 0x8B), once for all of them.
                if shutdown.claim() { Task { await namespaces.shutdown() } }
            }
        }
    }

    /// The WebSocket upgrade of `GET /mqtt`: who the client is, or nil (and why) when it is not upgraded.
    func webSocketPrincipal(_ head: HTTPRequestHead, peerIdentity: PeerIdentityBox, rules: DomainRules)
        -> Result<(id: String, sigV4: Bool), WebSocketRefusal>
    {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/mqtt" else { return .failure(.notMQTT) }
        let protocols = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
        guard protocols.contains("mqtt") else {
            return .failure(.refused(400, "GET /mqtt needs the WebSocket subprotocol mqtt (Sec-WebSocket-Protocol: mqtt)."))
        }
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        if query.contains("X-Amz-Signature=") || query.contains("X-Amz-Credential=") {
            if let refusal = rules.refusal(.webSocket, .sigV4) { return .failure(.refused(403, refusal)) }
            var headers: [(name: String, value: String)] = []
            for header in head.headers { headers.append((name: header.name.lowercased(), value: header.value)) }
            let request = SigV4Request(method: "GET", target: head.uri, headers: headers, payloadSHA256: SigV4Verifier.emptyPayloadSHA256)
            switch verifyPresignedURL(request) {
            case .success(let (accessKeyID, namespace)):
                // The credential scope's region picks the namespace, whatever name the TLS handshake used.
                if let namespace { peerIdentity.namespace = namespace }
                let host = (peerIdentity.namespace ?? tls.namespaces.primary).host
                guard host.admits(accessKeyID) else { return .failure(.refused(403, "The access key \(accessKeyID) may not connect.")) }
                return .success((accessKeyID, true))
            case .failure(let rejection):
                return .failure(.refused(403, rejection.message))
            }
        }
        if let certificateID = peerIdentity.certificateID {
            if let refusal = rules.refusal(.webSocket, .certificate) { return .failure(.refused(403, refusal)) }
            return .success((certificateID, false))
        }
        return .failure(.refused(403, "MQTT over WebSocket needs a SigV4 presigned URL (X-Amz-Signature) or a TLS client certificate."))
    }

    enum WebSocketRefusal: Error {
        /// Not `GET /mqtt`: an ordinary request for the HTTP router.
        case notMQTT
        case refused(Int, String)
    }

    /// Claims the one broker shutdown a graceful stop of the shared port starts.
    final class ShutdownOnce: Sendable {
        private let claimed = NIOLockedValueBox(false)
        func claim() -> Bool { claimed.withLockedValue { done in defer { done = true }; return !done } }
    }
}

/// Waits for the TLS handshake on the shared port, then sets the connection up for what ALPN and the
/// first request say it is, and removes itself. A connection that does not finish its handshake within
/// the connect timeout is closed.
final class SharedPortDispatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let port: SharedPortChannel
    let peerIdentity: PeerIdentityBox
    var rules = DomainRules.any
    private var promise: EventLoopPromise<SharedPortChannel.Dispatch>?
    private var timeout: Scheduled<Void>?

    init(port: SharedPortChannel, peerIdentity: PeerIdentityBox, promise: EventLoopPromise<SharedPortChannel.Dispatch>) {
        self.port = port
        self.peerIdentity = peerIdentity
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let host = port.host
        let seconds = host.limits.connectTimeout
        let channel = context.channel
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(Int64(seconds))) {
            host.recordHandshakeFailure("TLS handshake not completed within \(seconds) s", remote: channel.remoteAddress)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        // Closed before anything was dispatched: nobody serves it.
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The TLS handshake failed (a refused domain, no trusted certificate, not TLS at all).
        port.host.recordHandshakeFailure(peerIdentity.rejection?.description ?? MQTTConnectionHandler.describeHandshakeError(error),
                                         remote: context.channel.remoteAddress)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = tlsEvent, let promise else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        timeout?.cancel()
        timeout = nil
        self.promise = nil
        do {
            switch negotiated {
            case SharedPortProtocol.mqttX509:
                try startMQTT(context: context)
                promise.succeed(.pipeline)
            case SharedPortProtocol.mqttCustomAuthorizer:
                try refuseCustomAuthorizer(context: context)
                promise.succeed(.pipeline)
            default:
                promise.completeWith(try startHTTP(context: context))
            }
        } catch {
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        // The MQTT handler registers on this event (its certificate is known by now).
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(_ reason: String, context: ChannelHandlerContext) {
        port.host.recordConnectFailure(reason, remote: context.channel.remoteAddress)
        context.close(promise: nil)
    }

    private func mqttHandlers(context: ChannelHandlerContext) -> (ByteToMessageHandler<MQTTPacketDecoderAdapter>, MQTTConnectionHandler) {
        // The namespace the server name reached, known since the Client Hello.
        let namespace = peerIdentity.namespace ?? port.tls.namespaces.primary
        let decoder = ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(maximumPacketSize: namespace.host.limits.maximumPacketSize)))
        let handler = MQTTConnectionHandler(host: namespace.host, id: namespace.host.makeConnectionID(), peerIdentity: peerIdentity,
                                            directory: namespace.directory, logger: port.logger)
        return (decoder, handler)
    }

    /// `x-amzn-mqtt-ca`: MQTT with the certificate the handshake verified.
    private func startMQTT(context: ChannelHandlerContext) throws {
        if let refusal = rules.refusal(.mqtt, .certificate) { return refuse(refusal, context: context) }
        let (decoder, handler) = mqttHandlers(context: context)
        try context.pipeline.syncOperations.addHandlers([decoder, handler], position: .after(self))
    }

    /// `mqtt`: a custom authorizer is asked for; the CONNACK says none is configured.
    private func refuseCustomAuthorizer(context: ChannelHandlerContext) throws {
        let host = port.host
        let decoder = ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(maximumPacketSize: host.limits.maximumPacketSize)))
        try context.pipeline.syncOperations.addHandlers([decoder, CustomAuthorizerRefusal(host: host)], position: .after(self))
        Self.closeUnlessDone(context.channel, within: host.limits.connectTimeout, done: context.channel.closeFuture)
    }

    /// A client that finished TLS must then speak (send CONNECT, or its first request) within the
    /// connect timeout, or be closed: an idle socket must not be held forever.
    static func closeUnlessDone(_ channel: any Channel, within seconds: UInt32, done: EventLoopFuture<some Sendable>) {
        let timer = channel.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) { channel.close(promise: nil) }
        done.whenComplete { _ in timer.cancel() }
    }

    /// Anything else is HTTP/1.1, with the WebSocket upgrade of `GET /mqtt`.
    private func startHTTP(context: ChannelHandlerContext) throws -> EventLoopFuture<SharedPortChannel.Dispatch> {
        let port = self.port
        let peerIdentity = self.peerIdentity
        let rules = self.rules
        let remote = context.channel.remoteAddress
        let peer = SharedPortPeer(certificateID: peerIdentity.certificateID, serverName: peerIdentity.serverName,
                                  sourceIP: remote?.ipAddress.map(PolicyAuthorizer.policySourceIP), rules: rules,
                                  namespace: peerIdentity.namespace?.name)
        let principal = NIOLockedValueBox<(id: String, sigV4: Bool)?>(nil)
        let refusal = NIOLockedValueBox<(status: Int, message: String)?>(nil)
        let maximumFrame = port.host.limits.maximumPacketSize + 16
        let upgrader = NIOTypedWebSocketServerUpgrader<SharedPortChannel.Dispatch>(
            maxFrameSize: min(maximumFrame, Int(UInt32.max)),
            shouldUpgrade: { channel, head in
                switch port.webSocketPrincipal(head, peerIdentity: peerIdentity, rules: rules) {
                case .success(let authenticated):
                    principal.withLockedValue { $0 = authenticated }
                    var headers = HTTPHeaders()
                    headers.add(name: "Sec-WebSocket-Protocol", value: "mqtt")
                    return channel.eventLoop.makeSucceededFuture(headers)
                case .failure(.notMQTT):
                    return channel.eventLoop.makeSucceededFuture(nil)
                case .failure(.refused(let status, let reason)):
                    // NIO then fails the upgrade; the prelude handler below answers with this reason.
                    refusal.withLockedValue { $0 = (status, reason) }
                    port.host.recordConnectFailure("MQTT over WebSocket refused: \(reason)", remote: channel.remoteAddress)
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    guard let (id, sigV4) = principal.withLockedValue({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                    // The namespace of the signature's credential scope, or the one the server name reached.
                    let namespace = peerIdentity.namespace ?? port.tls.namespaces.primary
                    let host = namespace.host
                    let decoder = ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(maximumPacketSize: host.limits.maximumPacketSize)))
                    let handler = MQTTConnectionHandler(host: host, id: host.makeConnectionID(), peerIdentity: peerIdentity,
                                                        directory: namespace.directory, logger: port.logger)
                    try channel.pipeline.syncOperations.addHandlers([WebSocketMQTTBridge(), decoder, handler])
                    handler.authenticated(as: id)
                    if sigV4 {
                        // Signed connections end after a day (limits.webSocketSigV4Lifetime), as AWS ends
                        // them (reference 1.3); the client signs a new URL.
                        let seconds = host.limits.webSocketSigV4Lifetime
                        let connection = handler.id
                        let expiry = channel.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) {
                            // Through the broker: MQTT 5 hears DISCONNECT 0xA0, the will is published and the
                            // lifecycle event says WEBSOCKET_TTL_EXPIRATION. The socket is closed in any case.
                            host.expireConnection(connection, reasonString: "The signed WebSocket connection reached its lifetime of \(seconds) s")
                            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
                        }
                        channel.closeFuture.whenComplete { _ in expiry.cancel() }
                    }
                    return .pipeline
                }
            })
        let idleTimeout = port.httpIdleTimeout
        let logger = port.logger
        let upgrade = NIOTypedHTTPServerUpgradeConfiguration<SharedPortChannel.Dispatch>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: true))
                    try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                    let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    return .http(asyncChannel, peer)
                }
            })
        var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
        configuration.enablePipelining = false
        configuration.enableErrorHandling = false
        configuration.enableResponseHeaderValidation = false
        let result = try context.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
        // Until the first request is dispatched nothing else answers a malformed one (MQTT bytes sent
        // without ALPN, say) or a refused WebSocket upgrade: this does, then steps aside for the HTTP
        // server or the WebSocket.
        let prelude = HTTPPreludeErrorHandler(refusal: refusal)
        try context.pipeline.syncOperations.addHandler(prelude)
        let channel = context.channel
        result.whenComplete { _ in channel.pipeline.syncOperations.removeHandler(prelude, promise: nil) }
        Self.closeUnlessDone(channel, within: port.host.limits.connectTimeout, done: result)
        return result
    }

}

/// Answers the first request when it cannot be served, then closes: a refused WebSocket upgrade (NIO
/// fails the upgrade) with the reason and status it was refused with, anything unparsable with 400.
/// The body is AWS's error shape (`x-amzn-ErrorType`, `{"__type", "message"}`).
final class HTTPPreludeErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    typealias OutboundOut = HTTPServerResponsePart
    private let refusal: NIOLockedValueBox<(status: Int, message: String)?>
    private var answered = false

    init(refusal: NIOLockedValueBox<(status: Int, message: String)?>) {
        self.refusal = refusal
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !answered else { return }
        answered = true
        let (status, message) = refusal.withLockedValue { $0 } ?? (400, "The request is not valid HTTP/1.1 or asks for an upgrade this port does not serve.")
        let type = status == 403 ? "ForbiddenException" : "InvalidRequestException"
        let body = "{\"__type\":\"\(type)\",\"message\":\(JSONText.quoted(message))}"
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "x-amzn-ErrorType", value: type)
        headers.add(name: "content-length", value: "\(body.utf8.count)")
        headers.add(name: "connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

/// MQTT over WebSocket: binary frames carry the MQTT byte stream in both directions (MQTT 5 spec 6).
/// Pings are answered, a close is echoed and ends the connection, text frames are a protocol error.
final class WebSocketMQTTBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            close(context: context, code: .normalClosure)
        case .text:
            // MQTT is carried in binary frames only (MQTT 5 spec 6.0).
            close(context: context, code: .unacceptableData)
        default:
            close(context: context, code: .protocolError)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !closing else { return }
        closing = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in context.close(promise: nil) }
    }
}

/// ALPN `mqtt` asks for a custom authorizer. None is configured yet: the CONNACK says so (MQTT 5
/// 0x8C Bad authentication method with a reason string; 3.1.1 return code 5, not authorized), then the socket closes.
final class CustomAuthorizerRefusal: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    static let reason = "custom authorizers are not configured on this gateway: connect with ALPN x-amzn-mqtt-ca and a client certificate, or over WebSocket"
    let host: BrokerHost
    private var answered = false

    init(host: BrokerHost) {
        self.host = host
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        guard case .connect(let connect) = unwrapInboundIn(data) else {
            context.close(promise: nil)
            return
        }
        host.recordConnectFailure("ALPN mqtt (custom authorizer) refused for client \(connect.clientID.prefix(128)): \(Self.reason)",
                                    remote: context.channel.remoteAddress)
        var connack = ConnAckPacket(reasonCode: connect.protocolVersion == .v5 ? .badAuthenticationMethod : .notAuthorized)
        if connect.protocolVersion == .v5 { connack.properties.reasonString = Self.reason }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        do {
            // The client's Maximum Packet Size holds here too: the reason string goes first, else no CONNACK.
            try MQTTPacketEncoder.encode(.connack(connack), version: connect.protocolVersion,
                                         maximumPacketSize: connect.properties.maximumPacketSize.map { Int($0) } ?? .max, into: &buffer)
        } catch {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
