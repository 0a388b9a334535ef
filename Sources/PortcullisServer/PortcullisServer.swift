import AWSSigV4
import Broker
import DeviceShadow
import ControlPlane
import HummingbirdCore
import IoTPolicy
import DeviceIdentity
import Foundation
import Gateway
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Registry
import RegistrySQLite
import ServiceLifecycle

/// The composition root: builds every part from the configuration in dependency order (data folder
/// and PKI, broker, listeners) and runs them as one `ServiceGroup`, shut down gracefully in reverse.
public final class PortcullisServer: Sendable {
    public let configuration: PortcullisConfiguration
    public let dataDirectory: DataDirectory
    public let preparation: DataDirectory.Preparation
    public let host: BrokerHost
    public let listeners: [MQTTListener]
    /// The AWS-compatible API listeners, and the admin key pair that signs requests to them.
    public let controlPlanes: [ControlPlane]
    /// The shared ports (AWS's 443): MQTT, HTTPS iot-data and MQTT over WebSocket by ALPN and request.
    public let sharedPorts: [ControlPlane]
    public let adminCredentials: AdminCredentials?
    /// Every (account, region) namespace: the default one from the start, others on first use.
    public let namespaces: NamespaceDirectory
    /// The default namespace's registry: things, certificates, policies; what devices are admitted by.
    public let registry: Registry
    public let deviceDirectory: DeviceDirectory
    /// The server certificates and TLS policies per server name (domain configurations), shared by the
    /// MQTT listeners; and what reloads the default certificate files when they change.
    public let serverTLS: ServerTLSDirectory
    public let certificateReloader: ServerCertificateReloader
    /// The default namespace's device shadow service on the broker and the iot-data API.
    public let shadows: ShadowGateway
    let logger: Logger

    public init(
        configuration: PortcullisConfiguration, logger: Logger, eventSink: (any IoTEventSink)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.dataDirectory = DataDirectory(path: configuration.dataDirectory)
        self.preparation = try dataDirectory.prepare(serverHostNames: configuration.serverHostNames)
        // The admin key signs API requests, and on the shared port iot-data requests and WebSocket URLs.
        let admin = configuration.apiListen.isEmpty && configuration.sharedListen.isEmpty ? nil
            : try dataDirectory.prepareAdminCredentials(configuredAccessKeyID: configuration.apiAccessKeyID,
                                                        configuredSecret: configuration.apiSecretAccessKey)
        self.adminCredentials = admin
        var keys: [String: [SigV4Credential]] = [:]
        if let admin { keys[configuration.accountID] = [SigV4Credential(accessKeyID: admin.accessKeyID, secretAccessKey: admin.secretAccessKey)] }
        for account in configuration.namespaces.accounts {
            keys[account.id, default: []].append(SigV4Credential(accessKeyID: account.accessKeyID, secretAccessKey: account.secretAccessKey))
        }
        let adminKeys = keys
        let material = GatewayTLSMaterial(
            serverCertificateChainPEM: preparation.serverCertificatePEM, serverPrivateKeyPEM: preparation.serverKeyPEM,
            rsaServerCertificateChainPEM: preparation.rsaServerCertificatePEM, rsaServerPrivateKeyPEM: preparation.rsaServerKeyPEM,
            trustedCACertificatesPEM: preparation.certificateAuthority.certificatePEM,
            securityPolicy: configuration.tlsSecurityPolicy)
        // A region's names (`iot.<region>.localhost`, `*.iot.<region>.localhost`) get a certificate from the
        // local CA, made on the first handshake that asks for one.
        let hostNames = configuration.namespaceHostNames
        let regional = RegionalServerCertificates(authority: preparation.certificateAuthority, material: material, hostNames: hostNames)
        // Names the rules give a namespace (its regional and configured names) are its alone: no other
        // namespace's domain configuration may claim them.
        let owner: ServerTLSDirectory.NameOwner = { name in
            hostNames.namespace(forServerName: name).map { $0.storeKey(defaultNamespace: hostNames.defaultNamespace) }
        }
        let serverTLS = try ServerTLSDirectory(material: material, strictSNI: configuration.strictSNI, onDemand: regional.onDemand, owner: owner)
        // The shared port has AWS's 443 column of the policy table, ALPN and optional client certificates.
        let sharedTLS = try ServerTLSDirectory(material: material, port: .shared, strictSNI: configuration.strictSNI, onDemand: regional.onDemand,
                                               owner: owner)
        self.serverTLS = serverTLS
        self.certificateReloader = ServerCertificateReloader(dataDirectory: dataDirectory, serverHostNames: configuration.serverHostNames,
                                                             material: material, contexts: [serverTLS, sharedTLS], logger: logger)
        let store = try SQLiteRegistryStore(path: dataDirectory.registryDatabasePath)
        let namespaces = try NamespaceDirectory(hostNames: hostNames, shared: .init(
            configuration: configuration, store: store, localCA: preparation.certificateAuthority, adminKeys: adminKeys,
            serverTLS: [serverTLS, sharedTLS], eventSink: eventSink, logger: logger))
        self.namespaces = namespaces
        let primary = namespaces.primary
        self.host = primary.host
        self.registry = primary.registry
        self.deviceDirectory = primary.directory
        self.shadows = primary.shadows
        // Devices reach a namespace by the server name they send; namespaces made later tick too.
        let devices = DeviceNamespaces(primary: primary.device) { name in
            namespaces.deviceNamespace(forServerName: name, domains: serverTLS)
        }
        namespaces.onCreate { devices.adopt($0.host) }
        for namespace in namespaces.all where namespace !== primary { devices.adopt(namespace.host) }
        self.listeners = configuration.mqttListen.map { text in
            let address = ListenAddress(text)!
            return MQTTListener(configuration: .init(host: address.host, port: address.port), namespaces: devices,
                                contexts: serverTLS, group: group, logger: logger)
        }
        let preparation = self.preparation
        let mqttListeners = self.listeners
        let boundMQTT: @Sendable () async -> [(host: String, port: Int)] = {
            var bound: [(host: String, port: Int)] = []
            for listener in mqttListeners {
                if let address = try? await listener.boundAddress, let port = address.port {
                    bound.append((address.ipAddress ?? "", port))
                }
            }
            return bound
        }
        let defaultEndpoint = configuration.serverHostNames.first ?? "localhost"
        /// The API's configuration as one namespace sees it: its region, account, admin keys, endpoint.
        @Sendable func apiConfiguration(_ text: String, for namespace: GatewayNamespace) -> ControlPlane.Configuration {
            let address = ListenAddress(text)!
            let isPrimary = namespace === primary
            var api = ControlPlane.Configuration(
                host: address.host, port: address.port, region: namespace.id.region, accountID: namespace.id.accountID,
                dataEndpointAddress: isPrimary ? defaultEndpoint : hostNames.endpoint(for: namespace.id),
                credentials: adminKeys[namespace.id.accountID] ?? [],
                serverCertificateChainPEM: preparation.serverCertificatePEM, serverPrivateKeyPEM: preparation.serverKeyPEM,
                defaultSecurityPolicy: configuration.tlsSecurityPolicy.rawValue, dataPlaneKeys: namespace.dataPlaneKeys, shadows: namespace.shadows)
            api.mqttListeners = boundMQTT
            api.fleetIndex = namespace
            api.allowInsecureRuleURLs = configuration.rules.allowInsecureURLs
            api.ruleTables = namespace.ruleTables
            return api
        }
        /// The namespace a request's credential scope names (unsigned requests: `fallback`'s).
        @Sendable func route(_ scope: SigV4CredentialScope?, token: String?, fallback: GatewayNamespace) -> Result<GatewayNamespace, AWSErrorResponse> {
            guard let scope else { return .success(fallback) }
            guard hostNames.allows(region: scope.region) else {
                return .failure(AWSErrorResponse(status: 403, type: "InvalidSignatureException",
                                                 message: "Credential should be scoped to a valid region, not '\(scope.region.prefix(32))'."))
            }
            // An unknown key is refused by the namespace's verifier, in AWS's words.
            let account = namespaces.account(ofAccessKey: scope.accessKeyID, region: scope.region, sessionToken: token) ?? configuration.accountID
            guard let namespace = namespaces.namespace(NamespaceID(accountID: account, region: scope.region)) else {
                return .failure(AWSErrorResponse(status: 500, type: "InternalFailureException", message: "The region's registry could not be opened."))
            }
            return .success(namespace)
        }
        let issuer = preparation.certificateAuthority
        self.controlPlanes = try configuration.apiListen.map { text in
            var api = apiConfiguration(text, for: primary)
            api.handshakeTimeout = .seconds(Int64(configuration.limits.connectTimeout))
            api.idleTimeout = .seconds(Int64(configuration.apiIdleTimeoutSeconds))
            api.maximumConnections = configuration.apiMaximumConnections
            let responder = ControlPlane.namespaceResponder { scope, token, path in
                // An unsigned destination confirmation (the enableUrl) belongs to the namespace its token names.
                var fallback = primary
                if scope == nil, path.hasPrefix(ControlPlane.confirmDestinationPrefix),
                   let named = TopicRuleDestinationRules.namespace(ofToken: String(path.dropFirst(ControlPlane.confirmDestinationPrefix.count))),
                   let found = namespaces.existing(NamespaceID(accountID: named.accountID, region: named.region)) {
                    fallback = found
                }
                return route(scope, token: token, fallback: fallback).map { namespace in
                    namespace.apiResponder {
                        ControlPlaneResponder(ControlPlane.makeRouter(configuration: apiConfiguration(text, for: namespace), registry: namespace.registry,
                                                                      issuer: issuer, dataPlane: namespace.host, clock: ControlPlane.systemClock))
                    }
                }
            }
            return try ControlPlane(configuration: api, responder: responder, logger: logger, group: group)
        }
        self.sharedPorts = try configuration.sharedListen.map { text in
            @Sendable func sharedResponder(_ namespace: GatewayNamespace) -> ControlPlaneResponder {
                namespace.sharedResponder {
                    ControlPlaneResponder(ControlPlane.makeSharedPortRouter(configuration: apiConfiguration(text, for: namespace), dataPlane: namespace.host,
                                                                            certificates: CertificatePolicies(authorizer: namespace.authorizer),
                                                                            registry: namespace.registry))
                }
            }
            // Signed requests go to their credential scope's namespace; unsigned ones (the client
            // certificate) to the namespace the connection's server name reached.
            let responder = ControlPlane.namespaceResponder { scope, token, _ in
                var reached = primary
                if let key = TLSClientPeer.current?.namespace {
                    // A server name that reaches no namespace serves nothing (never the default namespace).
                    guard let found = namespaces.all.first(where: { $0.storeKey == key }) else {
                        return .failure(AWSErrorResponse(status: 403, type: "ForbiddenException", message: "This server name reaches no served namespace."))
                    }
                    reached = found
                }
                return route(scope, token: token, fallback: reached).map(sharedResponder)
            }
            let verifyURLs = NIOLockedValueBox<[String: @Sendable (SigV4Request) -> Result<String, SigV4Rejection>]>([:])
            let verifyURL: SharedPortChannel.PresignedURLVerifier = { request in
                let scope = SigV4CredentialScope.parse(authorization: nil, query: Substring(request.rawQuery))
                let token = request.rawQuery.split(separator: "&").first { $0.hasPrefix("X-Amz-Security-Token=") }
                    .map { String($0.dropFirst("X-Amz-Security-Token=".count)).removingPercentEncoding ?? "" }
                let namespace: GatewayNamespace
                switch route(scope, token: token, fallback: primary) {
                case .success(let routed): namespace = routed
                case .failure(let error): return .failure(SigV4Rejection(.wrongScope, error.message))
                }
                let verify = verifyURLs.withLockedValue { verifiers in
                    if let made = verifiers[namespace.storeKey] { return made }
                    let made = ControlPlane.presignedURLVerifier(configuration: apiConfiguration(text, for: namespace))
                    verifiers[namespace.storeKey] = made
                    return made
                }
                return verify(request).map { ($0, namespace.device) }
            }
            let server = HTTPServerBuilder { responder in
                SharedPortChannel(namespaces: devices, contexts: sharedTLS, logger: logger, verifyPresignedURL: verifyURL,
                                  responder: responder, withPeer: Self.withPeer)
            }
            var shared = apiConfiguration(text, for: primary)
            // Devices, not administrators: the shared port is bounded by descriptors like the MQTT listeners.
            shared.maximumConnections = .max
            return try ControlPlane(configuration: shared, responder: responder, server: server, logger: logger, group: group)
        }
    }

    /// Runs a shared-port connection's HTTPS requests with what the connection knows of its peer.
    @Sendable static func withPeer(_ peer: SharedPortPeer, _ body: @Sendable () async -> Void) async {
        let client = TLSClientPeer(certificateID: peer.certificateID, sourceIP: peer.sourceIP, serverName: peer.serverName,
                                   certificateRefusal: peer.rules.refusal(.https, .certificate), sigV4Refusal: peer.rules.refusal(.https, .sigV4),
                                   namespace: peer.namespace)
        await TLSClientPeer.$current.withValue(client) { await body() }
    }

    /// The payload AWS publishes when a CA's auto-registration registered a certificate (reference 2.3).
    static func certificateRegisteredEvent(_ certificate: DeviceCertificate, accountID: String, now: Double) -> String {
        let object: [String: Any] = [
            "certificateId": certificate.certificateID, "caCertificateId": certificate.caCertificateID ?? "",
            "timestamp": Int64(now * 1000), "certificateStatus": certificate.status.rawValue, "awsAccountId": accountID,
            "certificateRegistrationTimestamp": String(Int64(certificate.createdAt * 1000)),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The swift-log level matching an IoT log level.
    public static func swiftLogLevel(_ level: IoTLogLevel) -> Logger.Level {
        switch level {
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        case .disabled: .critical
        }
    }

    /// Runs until SIGINT or SIGTERM.
    public func run() async throws {
        let group = ServiceGroup(configuration: .init(
            services: listeners.map { .init(service: $0) } + controlPlanes.map { .init(service: $0) } + sharedPorts.map { .init(service: $0) }
                + [.init(service: certificateReloader)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// Starts every MQTT listener without a service group (tests); returns the bound addresses. The API
    /// runs only under `run()`.
    public func start() async throws -> [SocketAddress] {
        var addresses: [SocketAddress] = []
        for listener in listeners { addresses.append(try await listener.start()) }
        return addresses
    }

    public func stop() async throws {
        for listener in listeners.reversed() { try await listener.stop() }
    }
}

/// HTTPS requests authenticated by a client certificate are decided by the certificate's policies.
struct CertificatePolicies: CertificateRequestAuthorizer {
    let authorizer: PolicyAuthorizer

    func authorize(certificateID: String, sourceIP: String?, serverName: String?,
                   checks: [(action: IoTAction, resource: String)], now: Date) -> String? {
        authorizer.authorizeCertificateRequest(certificateID: certificateID, sourceIP: sourceIP, serverName: serverName,
                                               checks: checks, now: now)
    }
}

extension ShadowGateway: ShadowDataPlane {
    public func shadow(_ operation: ShadowOperation, on id: ShadowID, payload: [UInt8]) async -> Result<ShadowOutcome, ShadowError> {
        await perform(operation, on: id, payload: payload)
    }
}

/// The broker serves the iot-data routes of the API.
extension BrokerHost: DataPlane {
    public func publish(_ publish: PublishPacket, principal: String, sourceIP: String?) -> Broker.APIRefusal? {
        publishFromAPI(publish, principal: principal, sourceIP: sourceIP)
    }
}
