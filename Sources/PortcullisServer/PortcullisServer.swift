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
    /// Things, certificates, policies; what devices are admitted by.
    public let registry: Registry
    public let deviceDirectory: DeviceDirectory
    /// The server certificates and TLS policies per server name (domain configurations), shared by the
    /// MQTT listeners; and what reloads the default certificate files when they change.
    public let serverTLS: ServerTLSDirectory
    public let certificateReloader: ServerCertificateReloader
    /// The device shadow service on the broker and the iot-data API.
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
        var iotLogger = logger
        iotLogger.logLevel = Self.swiftLogLevel(configuration.logLevel)
        let sink = eventSink ?? LoggingIoTEventSink(logger: iotLogger, accountID: configuration.accountID)
        // The registry decides who may connect and what each client may do: the directory holds its
        // latest snapshot, and every change closes the connections it no longer admits and re-authorizes
        // the others (within the API call that made it).
        let directory = DeviceDirectory()
        self.deviceDirectory = directory
        let arns = ARNs(region: configuration.region, accountID: configuration.accountID)
        // The admin key signs API requests, and on the shared port iot-data requests and WebSocket URLs.
        let admin = configuration.apiListen.isEmpty && configuration.sharedListen.isEmpty ? nil
            : try dataDirectory.prepareAdminCredentials(configuredAccessKeyID: configuration.apiAccessKeyID,
                                                        configuredSecret: configuration.apiSecretAccessKey)
        self.adminCredentials = admin
        let adminIDs: Set<String> = admin.map { [$0.accessKeyID] } ?? []
        let dataPlaneKeys = DataPlaneKeys()
        let authorizer = PolicyAuthorizer(directory: directory, arns: arns, adminPrincipals: adminIDs)
        let broker = Broker(limits: configuration.limits, logLevel: configuration.logLevel,
                            assignedClientIDPrefix: "portcullis-\(UUID().uuidString.prefix(8).lowercased())-",
                            authorizer: authorizer, isServiceRequest: ShadowGateway.isRequestTopic)
        // A connection's principal is a certificate id, or for MQTT over WebSocket signed with SigV4 an
        // access key: admitted while the certificate is ACTIVE or the key exists.
        let host = BrokerHost(broker: broker, eventSink: sink,
                              admits: { adminIDs.contains($0) || dataPlaneKeys.contains($0) || directory.admits($0) },
                              preauthorizer: authorizer)
        self.host = host
        directory.onUpdate { identitiesChanged in
            // A policy, attachment or thing change cannot un-admit a certificate: only then is every
            // connection's identity looked at again.
            if identitiesChanged { host.closeConnectionsNoLongerAdmitted() }
            host.reauthorize()
        }
        let material = GatewayTLSMaterial(
            serverCertificateChainPEM: preparation.serverCertificatePEM, serverPrivateKeyPEM: preparation.serverKeyPEM,
            rsaServerCertificateChainPEM: preparation.rsaServerCertificatePEM, rsaServerPrivateKeyPEM: preparation.rsaServerKeyPEM,
            trustedCACertificatesPEM: preparation.certificateAuthority.certificatePEM,
            securityPolicy: configuration.tlsSecurityPolicy)
        let serverTLS = try ServerTLSDirectory(material: material, strictSNI: configuration.strictSNI)
        // The shared port has AWS's 443 column of the policy table, ALPN and optional client certificates.
        let sharedTLS = try ServerTLSDirectory(material: material, port: .shared, strictSNI: configuration.strictSNI)
        self.serverTLS = serverTLS
        self.certificateReloader = ServerCertificateReloader(dataDirectory: dataDirectory, serverHostNames: configuration.serverHostNames,
                                                             material: material, contexts: [serverTLS, sharedTLS], logger: logger)
        // Shadows live in the registry's database; the service answers MQTT and HTTPS requests.
        let store = try SQLiteRegistryStore(path: dataDirectory.registryDatabasePath)
        let shadows = ShadowGateway(service: ShadowService(store: store), host: host)
        self.shadows = shadows
        host.onServiceRequest { shadows.handle($0) }
        let registry = try Registry(arns: arns,
                                    localCA: preparation.certificateAuthority.certificate,
                                    store: store,
                                    observer: { state, update in
                                        let changed = update.kinds
                                        // A deleted thing's shadows are deleted with it.
                                        for name in update.deleted(.thing) { shadows.thingDeleted(name) }
                                        if let before = update.previous, !changed.isDisjoint(with: [.thing, .thingType, .thingGroup, .groupMemberships]) {
                                            for event in RegistryEvents.between(before, state, changed: update.changedKeys,
                                                                                accountID: configuration.accountID,
                                                                                nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)) {
                                                host.publishServiceEvent(topic: event.topic, payload: event.payload)
                                            }
                                        }
                                        // Domain configurations and their certificates change what TLS serves.
                                        if !changed.isDisjoint(with: [.domainConfiguration, .serverCertificate]) {
                                            serverTLS.update(from: state)
                                            sharedTLS.update(from: state)
                                        }
                                        if !changed.isDisjoint(with: [.accessKey, .policy]) { dataPlaneKeys.update(from: state) }
                                        // Settings, tags and TLS settings change nothing a connection is allowed.
                                        guard !changed.isSubset(of: [.setting, .tags, .domainConfiguration, .serverCertificate]) else { return }
                                        // A deleted access key ends the WebSocket connections it signed.
                                        directory.update(from: state, identities: !changed.isDisjoint(with: [.certificate, .caCertificate, .revocationList, .accessKey]))
                                    })
        self.registry = registry
        let accountID = configuration.accountID
        directory.setRegistrar { pending in
            let now = Date().timeIntervalSince1970
            Task {
                if let certificate = pending.register {
                    _ = try? await registry.perform { state throws(RegistryError) in
                        state.autoRegister(certificate, caCertificateID: pending.caCertificateID, now: now)
                    }
                }
                guard let registered = try? await registry.read({ state throws(RegistryError) in try state.certificate(id: pending.certificateID) }),
                      registered.status == .pendingActivation else { return }
                host.publishServiceEvent(topic: "$aws/events/certificates/registered/\(pending.caCertificateID)",
                                         payload: Self.certificateRegisteredEvent(registered, accountID: accountID, now: now))
            }
        }
        self.listeners = configuration.mqttListen.map { text in
            let address = ListenAddress(text)!
            return MQTTListener(configuration: .init(host: address.host, port: address.port), host: host,
                                contexts: serverTLS, directory: directory, group: group, logger: logger)
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
        func apiConfiguration(_ text: String) -> ControlPlane.Configuration {
            let address = ListenAddress(text)!
            return .init(
                host: address.host, port: address.port, region: configuration.region, accountID: configuration.accountID,
                dataEndpointAddress: configuration.serverHostNames.first ?? "localhost",
                credentials: admin.map { [SigV4Credential(accessKeyID: $0.accessKeyID, secretAccessKey: $0.secretAccessKey)] } ?? [],
                serverCertificateChainPEM: preparation.serverCertificatePEM, serverPrivateKeyPEM: preparation.serverKeyPEM,
                defaultSecurityPolicy: configuration.tlsSecurityPolicy.rawValue, dataPlaneKeys: dataPlaneKeys, shadows: shadows)
        }
        self.controlPlanes = try configuration.apiListen.map { text in
            var api = apiConfiguration(text)
            api.mqttListeners = boundMQTT
            api.handshakeTimeout = .seconds(Int64(configuration.limits.connectTimeout))
            api.idleTimeout = .seconds(Int64(configuration.apiIdleTimeoutSeconds))
            api.maximumConnections = configuration.apiMaximumConnections
            return try ControlPlane(configuration: api, registry: registry, issuer: preparation.certificateAuthority,
                                    dataPlane: host, logger: logger, group: group)
        }
        let certificates = CertificatePolicies(authorizer: authorizer)
        self.sharedPorts = try configuration.sharedListen.map { text in
            let api = apiConfiguration(text)
            let router = ControlPlane.makeSharedPortRouter(configuration: api, dataPlane: host, certificates: certificates)
            let verifyURL = ControlPlane.presignedURLVerifier(configuration: api)
            let server = HTTPServerBuilder { responder in
                SharedPortChannel(host: host, contexts: sharedTLS, directory: directory, logger: logger, verifyPresignedURL: verifyURL,
                                  responder: responder, withPeer: Self.withPeer)
            }
            var shared = api
            // Devices, not administrators: the shared port is bounded by descriptors like the MQTT listeners.
            shared.maximumConnections = .max
            return try ControlPlane(configuration: shared, router: router, server: server, logger: logger, group: group)
        }
    }

    /// Runs a shared-port connection's HTTPS requests with what the connection knows of its peer.
    @Sendable static func withPeer(_ peer: SharedPortPeer, _ body: @Sendable () async -> Void) async {
        let client = TLSClientPeer(certificateID: peer.certificateID, sourceIP: peer.sourceIP, serverName: peer.serverName,
                                   certificateRefusal: peer.rules.refusal(.https, .certificate), sigV4Refusal: peer.rules.refusal(.https, .sigV4))
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
