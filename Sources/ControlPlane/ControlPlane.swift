import AWSSigV4
import DeviceIdentity
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Registry
import Rules
import ServiceLifecycle

/// The AWS-compatible HTTPS API: botocore's `iot` service on the wire (the same methods, URIs, JSON
/// and error shapes), every request authenticated with SigV4 against the admin access keys. awscli and
/// boto3 work against it with `--endpoint-url`. One port serves the control plane (`iot` in the
/// credential scope) and `iot-data` (`iotdata`): DescribeEndpoint, policies, things, thing types, thing
/// groups, certificates, CA certificates, attachments and tags; Publish and the retained-message reads.
public final class ControlPlane: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var region: String
        public var accountID: String
        /// What DescribeEndpoint answers: the host name devices use for MQTT.
        public var dataEndpointAddress: String
        public var credentials: [SigV4Credential]
        public var serverCertificateChainPEM: String
        public var serverPrivateKeyPEM: String
        /// The security policy of the default domain until UpdateDomainConfiguration sets one.
        public var defaultSecurityPolicy: String
        /// The registry's data-plane access keys (nil: only the admin keys verify).
        public var dataPlaneKeys: DataPlaneKeys?
        /// The device shadow service for the iot-data shadow operations (nil: not served).
        public var shadows: (any ShadowDataPlane)?
        /// Shadows and connectivity for fleet indexing (nil: registry fields only).
        public var fleetIndex: (any FleetIndexSource)?
        /// Where the gateway's MQTT listeners are bound (port 0 resolved), for `GET /portcullis/listeners`:
        /// the CLI prints client commands with the host and port that really work.
        public var mqttListeners: (@Sendable () async -> [(host: String, port: Int)])?
        /// A connection must finish its TLS handshake this soon after it is accepted (the MQTT listeners'
        /// connect timeout), or it is closed.
        public var handshakeTimeout: TimeAmount = .seconds(10)
        /// An HTTP connection with no request in flight is closed after this long (the shared port's).
        public var idleTimeout: TimeAmount = .seconds(60)
        /// At most this many connections at once; further ones wait in the listen backlog until one
        /// closes (Hummingbird's `MaximumAvailableConnections`), so a flood cannot exhaust descriptors.
        public var maximumConnections: Int = 1024
        /// Topic rule destinations and http actions may name plain `http://` URLs (a local network, tests);
        /// otherwise only `https://`, as AWS requires.
        public var allowInsecureRuleURLs = false
        /// The rules' local tables, served by DynamoDB's API (nil: not served).
        public var ruleTables: (any RuleTableStore)?

        public init(host: String, port: Int, region: String, accountID: String, dataEndpointAddress: String,
                    credentials: [SigV4Credential], serverCertificateChainPEM: String, serverPrivateKeyPEM: String,
                    defaultSecurityPolicy: String = "IoTSecurityPolicy_TLS13_1_2_2022_10", dataPlaneKeys: DataPlaneKeys? = nil,
                    shadows: (any ShadowDataPlane)? = nil) {
            self.host = host
            self.port = port
            self.region = region
            self.accountID = accountID
            self.dataEndpointAddress = dataEndpointAddress
            self.credentials = credentials
            self.serverCertificateChainPEM = serverCertificateChainPEM
            self.serverPrivateKeyPEM = serverPrivateKeyPEM
            self.defaultSecurityPolicy = defaultSecurityPolicy
            self.dataPlaneKeys = dataPlaneKeys
            self.shadows = shadows
        }
    }

    /// Service names accepted in the credential scope. botocore signs the control plane as `iot` and
    /// iot-data as `iotdata`; AWS's documents also name `iotdevicegateway` and `execute-api`.
    /// `acm` signs the certificate operations (ImportCertificate and friends, JSON 1.1 on `POST /`).
    /// `sts` signs GetCallerIdentity (query protocol on `POST /`).
    public static let signingNames: Set<String> = ["iot", "iotdata", "iotdevicegateway", "execute-api", "acm", "sts", "dynamodb"]

    public let configuration: Configuration
    private let application: Application<ControlPlaneResponder>
    private let bound: EventLoopPromise<SocketAddress>
    private let boundSettled = NIOLockedValueBox(false)

    /// - Parameter issuer: the gateway's CA, which signs what CreateKeysAndCertificate and
    ///   CreateCertificateFromCsr hand out.
    public convenience init(configuration: Configuration, registry: Registry, issuer: CertificateAuthority?, dataPlane: (any DataPlane)? = nil, logger: Logger,
                            clock: @escaping @Sendable () -> Int64 = ControlPlane.systemClock,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        let router = Self.makeRouter(configuration: configuration, registry: registry, issuer: issuer, dataPlane: dataPlane, clock: clock)
        try self.init(configuration: configuration, responder: ControlPlaneResponder(router), logger: logger, group: group)
    }

    /// The API on its own TLS listener, answering with `responder` (the gateway's: one router per
    /// namespace, picked by each request's credential scope).
    public convenience init(configuration: Configuration, responder: ControlPlaneResponder, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(configuration.serverCertificateChainPEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(configuration.serverPrivateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        let tlsConfiguration = tls
        let server = HTTPServerBuilder { responder in
            try APIServerChannel(responder: responder, tlsConfiguration: tlsConfiguration, handshakeTimeout: configuration.handshakeTimeout,
                                 idleTimeout: configuration.idleTimeout, maximumConnections: configuration.maximumConnections)
        }
        try self.init(configuration: configuration, responder: responder, server: server, logger: logger, group: group)
    }

    /// Serves `router` with `server` (the shared port passes its own TLS and ALPN dispatch).
    public convenience init(configuration: Configuration, router: Router<ControlPlaneContext>, server: HTTPServerBuilder, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        try self.init(configuration: configuration, responder: ControlPlaneResponder(router), server: server, logger: logger, group: group)
    }

    public init(configuration: Configuration, responder: ControlPlaneResponder, server: HTTPServerBuilder, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.configuration = configuration
        let bound = group.next().makePromise(of: SocketAddress.self)
        self.bound = bound
        let settled = self.boundSettled
        self.application = Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil,
                                 availableConnectionsDelegate: configuration.maximumConnections == .max
                                     ? nil : MaximumAvailableConnections(configuration.maximumConnections, logger: logger)),
            onServerRunning: { channel in
                guard let address = channel.localAddress else { return }
                if settled.withLockedValue({ done in defer { done = true }; return !done }) { bound.succeed(address) }
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger)
    }

    static let securityTokenHeader = HTTPField.Name("X-Amz-Security-Token")!

    public static let systemClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

    /// The address the server bound, once it listens (port 0 becomes the port the system chose).
    public var boundAddress: SocketAddress {
        get async throws { try await bound.futureResult.get() }
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch {
            settle(failing: error)
            throw error
        }
        settle(failing: CancellationError())
    }

    deinit {
        // A server built and never run (tests, or a start that failed before it) still settles the
        // promise: NIO refuses to drop an unfulfilled one.
        settle(failing: CancellationError())
    }

    /// A caller waiting for the address learns that the server will not listen.
    private func settle(failing error: any Error) {
        if boundSettled.withLockedValue({ done in defer { done = true }; return !done }) { bound.fail(error) }
    }

    /// Every route behind the SigV4 middleware (added first, so it also wraps "no such route").
    public static func makeRouter(configuration: Configuration, registry: Registry, issuer: CertificateAuthority? = nil,
                           dataPlane: (any DataPlane)? = nil, clock: @escaping @Sendable () -> Int64) -> Router<ControlPlaneContext> {
        var lookup: (@Sendable (String) -> String?)?
        if let keys = configuration.dataPlaneKeys { lookup = { keys.secret(for: $0) } }
        let verifier = SigV4Verifier(credentials: configuration.credentials, region: configuration.region,
                                     services: Self.signingNames, lookup: lookup)
        let router = Router(context: ControlPlaneContext.self)
        router.add(middleware: SigV4Middleware(verifier: verifier, clock: clock, admins: Set(configuration.credentials.map(\.accessKeyID)),
                                               keys: configuration.dataPlaneKeys))
        addRoutes(to: router, configuration: configuration)
        addPolicyRoutes(to: router, registry: registry)
        addThingRoutes(to: router, registry: registry)
        addCertificateRoutes(to: router, registry: registry, issuer: issuer)
        addRevocationListRoutes(to: router, registry: registry)
        addDomainConfigurationRoutes(to: router, registry: registry, configuration: configuration)
        addCertificateManagerRoutes(to: router, registry: registry, configuration: configuration)
        addAccessKeyRoutes(to: router, registry: registry)
        addAttachmentRoutes(to: router, registry: registry)
        addThingTypeRoutes(to: router, registry: registry)
        addThingGroupRoutes(to: router, registry: registry)
        addBillingGroupRoutes(to: router, registry: registry)
        addDynamicThingGroupRoutes(to: router, registry: registry)
        addRoleAliasRoutes(to: router, registry: registry)
        addTopicRuleRoutes(to: router, registry: registry, configuration: configuration)
        addTopicRuleDestinationRoutes(to: router, registry: registry, configuration: configuration)
        addFleetIndexingRoutes(to: router, registry: registry, source: configuration.fleetIndex)
        addEventConfigurationRoutes(to: router, registry: registry)
        addTagRoutes(to: router, registry: registry)
        addAuthorizationRoutes(to: router, registry: registry)
        if let dataPlane {
            addDataPlaneRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
            addRetainedMessageRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
            addConnectionRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
        }
        if let shadows = configuration.shadows { addShadowRoutes(to: router, shadows: shadows, keys: configuration.dataPlaneKeys) }
        return router
    }

    /// The shared port's HTTPS side (AWS's 443 and 8443, reference 6): the iot-data operations only,
    /// each request authenticated by SigV4 (admin or data-plane keys) or, without a signature, by the
    /// connection's TLS client certificate, whose IoT policies then decide it.
    /// - Parameter registry: with it, the credentials provider is served too.
    public static func makeSharedPortRouter(configuration: Configuration, dataPlane: any DataPlane,
                                            certificates: any CertificateRequestAuthorizer, registry: Registry? = nil,
                                            clock: @escaping @Sendable () -> Int64 = ControlPlane.systemClock) -> Router<ControlPlaneContext> {
        var lookup: (@Sendable (String) -> String?)?
        if let keys = configuration.dataPlaneKeys { lookup = { keys.secret(for: $0) } }
        let verifier = SigV4Verifier(credentials: configuration.credentials, region: configuration.region,
                                     services: ["iotdata", "iotdevicegateway"], lookup: lookup)
        let router = Router(context: ControlPlaneContext.self)
        router.add(middleware: SigV4Middleware(verifier: verifier, clock: clock, admins: Set(configuration.credentials.map(\.accessKeyID)),
                                               certificates: certificates, keys: configuration.dataPlaneKeys))
        addDataPlaneRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
        addRetainedMessageRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
        addConnectionRoutes(to: router, dataPlane: dataPlane, keys: configuration.dataPlaneKeys)
        if let shadows = configuration.shadows { addShadowRoutes(to: router, shadows: shadows, keys: configuration.dataPlaneKeys) }
        if let registry { addCredentialsProviderRoute(to: router, registry: registry) }
        return router
    }

    /// The verifier of MQTT-over-WebSocket URLs (reference 2.8): presigned for `iotdevicegateway` or
    /// `iotdata`, the session token outside the signature, `X-Amz-Expires` optional.
    public static func presignedURLVerifier(configuration: Configuration,
                                            clock: @escaping @Sendable () -> Int64 = ControlPlane.systemClock)
        -> @Sendable (SigV4Request) -> Result<String, SigV4Rejection>
    {
        var lookup: (@Sendable (String) -> String?)?
        if let keys = configuration.dataPlaneKeys { lookup = { keys.secret(for: $0) } }
        let verifier = SigV4Verifier(credentials: configuration.credentials, region: configuration.region,
                                     services: ["iotdevicegateway", "iotdata"], lookup: lookup)
        let keys = configuration.dataPlaneKeys
        return { request in
            // The session token of temporary credentials rides outside the signature (reference 2.8).
            let token = request.rawQuery.split(separator: "&").first { $0.hasPrefix("X-Amz-Security-Token=") }
                .map { String($0.dropFirst("X-Amz-Security-Token=".count)).removingPercentEncoding ?? "" }
            let tokenKey = token.flatMap { keys?.admit(sessionToken: $0) }
            switch verifier.verify(request, now: clock(), options: .init(iotWebSocket: true)) {
            case .verified(let identity) where TemporaryCredentials.isTemporaryKey(identity.accessKeyID) && identity.accessKeyID != tokenKey:
                return .failure(SigV4Rejection(.unknownAccessKey, "The security token included in the request is invalid."))
            case .verified(let identity) where identity.presigned: return .success(identity.accessKeyID)
            case .verified: return .failure(SigV4Rejection(.incompleteSignature, "MQTT over WebSocket takes a presigned URL, not an Authorization header."))
            case .rejected(let rejection): return .failure(rejection)
            }
        }
    }

    static func addRoutes(to router: Router<ControlPlaneContext>, configuration: Configuration) {
        // DescribeEndpoint: GET /endpoint?endpointType=
        router.get("/endpoint") { request, context in
            try requireControlPlane(context)
            let types = ["iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs"]
            if let type = request.uri.queryParameters["endpointType"].map(String.init), !types.contains(type) {
                throw AWSErrorResponse.invalidRequest("endpointType must be one of \(types.joined(separator: ", ")).")
            }
            return try json(["endpointAddress": configuration.dataEndpointAddress])
        }
        // Not an AWS operation: where devices reach this gateway's MQTT listeners, for `portcullis device`
        // to print commands with the real host and port. Admin keys only, like the control plane.
        router.get("/portcullis/listeners") { _, context in
            try requireControlPlane(context)
            let bound = await configuration.mqttListeners?() ?? []
            return try json([
                "endpointAddress": configuration.dataEndpointAddress,
                "mqtt": bound.map { ["host": $0.host, "port": $0.port] as [String: Any] },
            ])
        }
    }

    /// Control-plane operations answer only requests signed for `iot` (or AWS's documented aliases), not
    /// for iot-data: the credential scope says which API a request is for.
    /// A responder for a gateway of several (account, region) namespaces: each request goes to the
    /// namespace its credential scope names (the region; the account from the access key), whose router
    /// verifies the signature. `resolve` gets nil for a request without a signature.
    /// The session token, if any, helps find the account of a temporary key; the path, the namespace of
    /// an unsigned topic rule destination confirmation (its token names it).
    public static func namespaceResponder(
        _ resolve: @escaping @Sendable (SigV4CredentialScope?, _ sessionToken: String?, _ path: String) -> Result<ControlPlaneResponder, AWSErrorResponse>
    ) -> ControlPlaneResponder {
        ControlPlaneResponder { request, context in
            let scope = SigV4CredentialScope.parse(authorization: request.headers[.authorization], query: request.uri.query.map { Substring($0) })
            let token = request.headers[securityTokenHeader] ?? request.uri.queryParameters["X-Amz-Security-Token"].map(String.init)
            switch resolve(scope, token, request.uri.path) {
            case .success(let responder): return try await responder.respond(to: request, context: context)
            case .failure(let error):
                // STS speaks the query protocol: its errors are XML, also before a namespace is found.
                if scope?.service == "sts" {
                    return stsError(status: error.status, code: error.type, message: error.message, requestID: context.requestID)
                }
                return error.response(requestID: context.requestID)
            }
        }
    }

    static func requireControlPlane(_ context: ControlPlaneContext) throws {
        guard context.isAdmin else {
            throw AWSErrorResponse(status: 403, type: "AccessDeniedException",
                                   message: "The access key \(context.identity?.accessKeyID ?? "") is a data-plane key: it may call iot-data operations only.")
        }
        guard let service = context.identity?.service, !["iotdata", "iotdevicegateway", "acm", "sts", "dynamodb"].contains(service) else {
            throw AWSErrorResponse(status: 404, type: "UnknownOperationException",
                                   message: "This operation belongs to the iot control plane; the request was signed for \(context.identity?.service ?? "another service").")
        }
    }

    static func json(_ object: [String: Any]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// What answers the API's requests: a router, or a dispatch to one router per namespace.
public struct ControlPlaneResponder: HTTPResponder {
    public typealias Context = ControlPlaneContext
    private let handle: @Sendable (Request, ControlPlaneContext) async throws -> Response

    public init(_ router: Router<ControlPlaneContext>) {
        let responder = router.buildResponder()
        handle = { try await responder.respond(to: $0, context: $1) }
    }

    public init(_ handle: @escaping @Sendable (Request, ControlPlaneContext) async throws -> Response) {
        self.handle = handle
    }

    public func respond(to request: Request, context: ControlPlaneContext) async throws -> Response {
        try await handle(request, context)
    }
}
