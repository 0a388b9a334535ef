import Broker
import DeviceIdentity
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle

/// A server name the gateway does not serve (a disabled domain, strict SNI).
struct DomainRefused: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// MQTT over mutual TLS on one address (AWS: port 8883). Runs as a `Service`: binds, serves until
/// graceful shutdown, then tells every client the server is going away (DISCONNECT 0x8B) and closes.
public final class MQTTListener: Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    let configuration: Configuration
    let tls: GatewayTLS
    let group: any EventLoopGroup
    let logger: Logger
    /// The bound server channel; start and stop may run on any task.
    private let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
    private let started: EventLoopPromise<SocketAddress>

    public convenience init(
        configuration: Configuration, host: BrokerHost, tls material: GatewayTLSMaterial, directory: DeviceDirectory,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) throws {
        self.init(configuration: configuration, namespaces: DeviceNamespaces(host: host, directory: directory),
                  contexts: try ServerTLSDirectory(material: material), group: group, logger: logger)
    }

    /// - Parameters:
    ///   - namespaces: which broker and registry a connection joins, by the server name it sent.
    ///   - contexts: the server certificates and policies per server name, shared by listeners.
    public init(
        configuration: Configuration, namespaces: DeviceNamespaces, contexts: ServerTLSDirectory,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        self.tls = GatewayTLS(contexts: contexts, namespaces: namespaces)
        self.group = group
        self.logger = logger
        self.started = group.next().makePromise(of: SocketAddress.self)
    }

    /// The bound address, once listening (the port the OS chose for port 0).
    public var boundAddress: SocketAddress {
        get async throws { try await started.futureResult.get() }
    }

    public func run() async throws {
        do {
            try await start()
        } catch {
            started.fail(error)
            throw error
        }
        try? await gracefulShutdown()
        try await stop()
    }

    /// Binds and starts accepting connections; returns the bound address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let tls = self.tls
        let host = tls.namespaces.primary.host
        let logger = self.logger
        let maximumPacketSize = host.limits.maximumPacketSize
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 512 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture(withResultOf: {
                    try Self.initialize(channel, tls: tls, host: host, maximumPacketSize: maximumPacketSize, logger: logger)
                })
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel.withLockedValue { $0 = channel }
        tls.namespaces.startTicking(on: group.next())
        let address = channel.localAddress!
        started.succeed(address)
        let shown = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "?"
        logger.info("MQTT over TLS listening", metadata: ["address": "\(shown):\(address.port ?? 0)"])
        return address
    }

    /// A new connection's pipeline: the SNI step first; the rest once the Client Hello names the namespace.
    static func initialize(_ channel: any Channel, tls: GatewayTLS, host: BrokerHost, maximumPacketSize: Int, logger: Logger) throws {
        let peerIdentity = PeerIdentityBox()
        // Until the Client Hello arrives nothing else runs: a peer that sends none is closed after the
        // connect timeout.
        let seconds = host.limits.connectTimeout
        let silent = channel.eventLoop.scheduleTask(in: .seconds(Int64(seconds))) {
            host.recordHandshakeFailure("TLS handshake not completed within \(seconds) s", remote: channel.remoteAddress)
            channel.close(promise: nil)
        }
        channel.closeFuture.whenComplete { _ in silent.cancel() }
        // Reads the Client Hello's server name, picks the domain configuration for it (its certificate
        // and security policy) and the namespace, or refuses it, puts the TLS handler in, then the decoder
        // and the connection handler of the namespace's broker, then removes itself and hands the bytes
        // to TLS. Its buffer is one TLS record at most. The name becomes iot:DomainName only if it is one
        // of the gateway's.
        let sni = tls.makeSNIHandler(channel: channel, peerIdentity: peerIdentity, service: .mqtt, install: { namespace in
            let decoder = ByteToMessageHandler(MQTTPacketDecoderAdapter(decoder: MQTTPacketDecoder(maximumPacketSize: maximumPacketSize)))
            let handler = MQTTConnectionHandler(host: namespace.host, id: namespace.host.makeConnectionID(), peerIdentity: peerIdentity,
                                                directory: namespace.directory, logger: logger)
            try channel.pipeline.syncOperations.addHandlers([decoder, handler])
            // The connection handler's own connect timeout runs from here.
            silent.cancel()
        })
        try channel.pipeline.syncOperations.addHandler(sni)
    }

    /// Stops accepting first, then disconnects every client with "server shutting down" and waits
    /// (bounded) for their sockets to close.
    public func stop() async throws {
        guard let channel = serverChannel.withLockedValue({ channel -> (any Channel)? in
            defer { channel = nil }
            return channel
        }) else { return }
        try? await channel.close()
        tls.namespaces.stopTicking()
        await tls.namespaces.shutdown()
    }
}
