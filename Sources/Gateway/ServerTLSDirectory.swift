import DeviceIdentity
import Foundation
import IPAddressText
import NIOConcurrencyHelpers
import NIOSSL
import Registry
import X509

/// The server side of TLS for every listener: which context (certificate chains, security policy) a
/// connection gets for the server name in its Client Hello. A domain configuration (reference 1.5) is
/// chosen by exact name; any other name, an IP literal or no name gets the default domain, unless strict
/// SNI is on. Contexts are built when the registry's domain configurations or certificates change, or
/// the default certificate files do, so changes apply to the next handshake without a restart;
/// connections already up keep the context they started with.
public final class ServerTLSDirectory: Sendable {
    /// What a listener serves: MQTT over TLS (8883) takes domains for SECURE_MQTT with X.509; the shared
    /// port (AWS's 443) takes every application protocol and leaves the choice to ALPN and the request.
    public enum Service: Sendable {
        case mqtt
        case shared
    }

    public enum Selection {
        /// Serve with this context; `domainName` is the name the client asked for when it is one of the
        /// gateway's (a domain configuration's, or the default certificate's): `iot:DomainName`. `rules`
        /// are the domain's application protocol and authentication type, applied once the shared port
        /// knows what the connection is.
        case serve(NIOSSLContext, domainName: String?, rules: DomainRules)
        case refuse(String)
    }

    struct Domain {
        /// The store key of the namespace whose registry configured it ("" for the primary one).
        var namespace = ""
        var record: DomainConfigurationRecord
        var context: NIOSSLContext?
        /// Why it cannot be served (a certificate that no longer loads, say), if so.
        var problem: String?
    }

    private struct State {
        var material: GatewayTLSMaterial
        var defaultGeneration = 0
        var defaultPolicy: TLSSecurityPolicy
        var defaultContext: NIOSSLContext
        var defaultNames: Set<String>
        var domains: [String: Domain] = [:]
        /// Contexts by what they are built from, reused across updates.
        var cache: [String: NIOSSLContext] = [:]
        /// The same for the domain configurations of other namespaces, per namespace.
        var namespaceCaches: [String: [String: NIOSSLContext]] = [:]
        /// Contexts for names served with a certificate made on demand (a region's names), by key and policy.
        var onDemand: [String: NIOSSLContext] = [:]
        /// The TLS policy another namespace's `iot:Data-ATS` configuration set: its names made on demand use it.
        var namespacePolicies: [String: TLSSecurityPolicy] = [:]
    }

    /// The certificate for a name no domain configuration and no default certificate covers, made on
    /// demand (the built-in regional names, `*.iot.<region>.localhost`, issued by the local CA), with
    /// the key its context is cached under; nil serves the default certificate.
    public typealias OnDemandMaterial = @Sendable (_ normalizedName: String) -> (key: String, material: GatewayTLSMaterial)?
    private let onDemandMaterial: OnDemandMaterial?

    private let state: NIOLockedValueBox<State>
    let port: TLSSecurityPolicy.Port
    public let strictSNI: Bool

    /// The namespace (store key) a server name belongs to by the gateway's own rules (configured names,
    /// regional names), nil for a name no rule gives: a domain configuration may claim only names no rule
    /// gives to another namespace, so one account cannot take over another's devices.
    public typealias NameOwner = @Sendable (_ normalizedName: String) -> String?
    private let owner: NameOwner?

    public init(material: GatewayTLSMaterial, port: TLSSecurityPolicy.Port = .dedicated, strictSNI: Bool = false,
                onDemand: OnDemandMaterial? = nil, owner: NameOwner? = nil) throws {
        self.port = port
        self.strictSNI = strictSNI
        self.onDemandMaterial = onDemand
        self.owner = owner
        let context = try Self.makeContext(material: material, policy: material.securityPolicy, port: port)
        state = NIOLockedValueBox(State(material: material, defaultPolicy: material.securityPolicy, defaultContext: context,
                                        defaultNames: Self.dnsNames(material.serverCertificateChainPEM)))
    }

    /// The DNS names of the default certificate (lower case).
    var defaultNames: Set<String> { state.withLockedValue { $0.defaultNames } }

    /// The context for a connection whose Client Hello named `serverName` (nil: no SNI).
    public func select(serverName: String?, for service: Service = .mqtt) -> Selection {
        let name = serverName.map(Self.normalize)
        let selection = state.withLockedValue { state -> Selection? in
            guard let name, !name.isEmpty, !Self.isIPLiteral(name) else {
                return strictSNI ? .refuse("no server name (SNI) was sent and strict SNI is on") : .serve(state.defaultContext, domainName: nil, rules: .any)
            }
            if let domain = state.domains[name] {
                guard domain.record.enabled else { return .refuse("the domain configuration \(domain.record.name) (\(name)) is DISABLED") }
                if let refusal = Self.refusal(domain.record, service: service) { return .refuse(refusal) }
                guard let context = domain.context else {
                    return .refuse("the domain configuration \(domain.record.name) cannot be served: \(domain.problem ?? "no certificate")")
                }
                return .serve(context, domainName: name, rules: DomainRules(domain.record))
            }
            if state.defaultNames.contains(name) { return .serve(state.defaultContext, domainName: name, rules: .any) }
            return nil
        }
        if let selection { return selection }
        // Not a configured name: a name served with a certificate made for it, else the default.
        let asked = name ?? ""
        if let onDemandMaterial, let (name, material) = onDemandMaterial(asked) {
            // The policy of the namespace the name belongs to, else the gateway's default one.
            let owning = owner?(asked)
            let (policy, known) = state.withLockedValue { state -> (TLSSecurityPolicy, NIOSSLContext?) in
                let policy = owning.flatMap { state.namespacePolicies[$0] } ?? state.defaultPolicy
                return (policy, state.onDemand["\(name)/\(policy.rawValue)"])
            }
            if let known { return .serve(known, domainName: asked, rules: .any) }
            let key = "\(name)/\(policy.rawValue)"
            if let context = try? Self.makeContext(material: material, policy: policy, port: port) {
                let kept = state.withLockedValue { state in
                    if let existing = state.onDemand[key] { return existing }
                    state.onDemand[key] = context
                    return context
                }
                return .serve(kept, domainName: asked, rules: .any)
            }
        }
        return state.withLockedValue { state in
            strictSNI ? .refuse("no domain configuration for the server name \(asked.prefix(253)) and strict SNI is on")
                : .serve(state.defaultContext, domainName: nil, rules: .any)
        }
    }

    /// The name a client asked for, if the gateway serves it by name (lower case, no trailing dot).
    func domainName(fromSNI name: String) -> String? {
        if case .serve(_, let domain, _) = select(serverName: name) { return domain }
        return nil
    }

    /// Whether a listener for `service` serves a domain configured this way.
    static func refusal(_ record: DomainConfigurationRecord, service: Service) -> String? {
        switch service {
        case .mqtt:
            guard ["DEFAULT", "SECURE_MQTT"].contains(record.applicationProtocol) else {
                return "the domain configuration \(record.name) is for \(record.applicationProtocol), not MQTT over TLS"
            }
            guard ["DEFAULT", "AWS_X509"].contains(record.authenticationType) else {
                return "the domain configuration \(record.name) authenticates with \(record.authenticationType), not X.509"
            }
            return nil
        case .shared:
            guard !record.authenticationType.hasPrefix("CUSTOM_AUTH") else {
                return "the domain configuration \(record.name) authenticates with \(record.authenticationType): custom authorizers are not supported yet"
            }
            return nil
        }
    }

    /// Rebuilds the domains from the registry: new or changed ones get a context, unchanged ones keep
    /// theirs (the cache is keyed by certificate generation and policy). Contexts are built outside the
    /// lock, so handshakes are never held up by a rebuild.
    /// - Parameter namespace: the store key of the namespace whose registry this is: only the primary
    ///   one ("") sets the default domain; every namespace adds its own domain configurations.
    public func update(from registry: RegistryState, namespace: String = "") {
        guard namespace.isEmpty else { return updateDomains(from: registry, namespace: namespace) }
        let records = registry.allDomainConfigurations
        let certificates = registry.allServerCertificatesByID
        let defaultRecord = registry.defaultDomainConfiguration
        let (cache, material, generation) = state.withLockedValue { ($0.cache, $0.material, $0.defaultGeneration) }
        var used: [String: NIOSSLContext] = [:]
        // The default domain: the gateway's certificates, the policy UpdateDomainConfiguration set.
        let policy = defaultRecord.tlsSecurityPolicy ?? material.securityPolicy
        let defaultKey = "default/\(generation)/\(policy.rawValue)"
        let defaultContext = cache[defaultKey] ?? (try? Self.makeContext(material: material, policy: policy, port: port))
        if let defaultContext { used[defaultKey] = defaultContext }
        var domains: [String: Domain] = [:]
        for record in records.values where !record.isDefault && mayClaim(record.domainName, namespace: "") {
            var domain = Domain(record: record)
            let policy = record.tlsSecurityPolicy ?? .default
            guard let arn = record.serverCertificateArns.first, let id = registry.arns.acmCertificateID(inARN: arn),
                  let certificate = certificates[id] else {
                domain.problem = "its server certificate is not imported"
                domains[record.domainName] = domain
                continue
            }
            let key = "\(id)/\(certificate.generation)/\(policy.rawValue)"
            if let context = cache[key] ?? used[key] {
                domain.context = context
            } else {
                do {
                    let served = GatewayTLSMaterial(serverCertificateChainPEM: certificate.servedChainPEM, serverPrivateKeyPEM: certificate.privateKeyPEM,
                                                    trustedCACertificatesPEM: material.trustedCACertificatesPEM, securityPolicy: policy)
                    domain.context = try Self.makeContext(material: served, policy: policy, port: port)
                } catch {
                    domain.problem = "its server certificate does not load: \(error)"
                }
            }
            if let context = domain.context { used[key] = context }
            domains[record.domainName] = domain
        }
        state.withLockedValue { state in
            // A name another namespace configured first keeps it, as in `updateDomains`.
            state.domains = state.domains.filter { !$0.value.namespace.isEmpty }.merging(domains) { other, _ in other }
            // Certificate files replaced meanwhile: their context is newer; rebuild it for the policy then.
            // Regional contexts of the old default policy are not asked for again.
            if state.defaultPolicy != policy { state.onDemand = state.onDemand.filter { !$0.key.hasSuffix("/\(state.defaultPolicy.rawValue)") } }
            if state.defaultGeneration == generation {
                if let defaultContext {
                    state.defaultContext = defaultContext
                    state.defaultPolicy = policy
                }
            } else if let rebuilt = try? Self.makeContext(material: state.material, policy: policy, port: port) {
                state.defaultContext = rebuilt
                state.defaultPolicy = policy
                used["default/\(state.defaultGeneration)/\(policy.rawValue)"] = rebuilt
            } else {
                used.merge(state.cache.filter { $0.key.hasPrefix("default/\(state.defaultGeneration)/") }) { new, _ in new }
            }
            state.cache = used
        }
    }

    /// Another namespace's domain configurations (its default domain is the gateway's, by region name).
    private func updateDomains(from registry: RegistryState, namespace: String) {
        let certificates = registry.allServerCertificatesByID
        let (cache, trusted) = state.withLockedValue { ($0.namespaceCaches[namespace] ?? [:], $0.material.trustedCACertificatesPEM) }
        var used: [String: NIOSSLContext] = [:]
        var domains: [String: Domain] = [:]
        let defaultNames = self.defaultNames
        for record in registry.allDomainConfigurations.values where !record.isDefault && !defaultNames.contains(record.domainName)
            && mayClaim(record.domainName, namespace: namespace) {
            var domain = Domain(namespace: namespace, record: record)
            let policy = record.tlsSecurityPolicy ?? .default
            if let arn = record.serverCertificateArns.first, let id = registry.arns.acmCertificateID(inARN: arn), let certificate = certificates[id] {
                let key = "\(id)/\(certificate.generation)/\(policy.rawValue)"
                if let context = cache[key] ?? used[key] {
                    domain.context = context
                } else {
                    let served = GatewayTLSMaterial(serverCertificateChainPEM: certificate.servedChainPEM, serverPrivateKeyPEM: certificate.privateKeyPEM,
                                                    trustedCACertificatesPEM: trusted, securityPolicy: policy)
                    do { domain.context = try Self.makeContext(material: served, policy: policy, port: port) } catch {
                        domain.problem = "its server certificate does not load: \(error)"
                    }
                }
                if let context = domain.context { used[key] = context }
            } else {
                domain.problem = "its server certificate is not imported"
            }
            domains[record.domainName] = domain
        }
        let policy = registry.defaultDomainConfiguration.tlsSecurityPolicy
        state.withLockedValue { state in
            state.namespacePolicies[namespace] = policy
            // A name another namespace configured first keeps it: names are unique across the gateway.
            state.domains = state.domains.filter { $0.value.namespace != namespace }
            for (name, domain) in domains where state.domains[name] == nil { state.domains[name] = domain }
            state.namespaceCaches[namespace] = used
        }
    }

    /// Whether a domain configuration of `namespace` may serve `name`: no rule gives it to another one.
    private func mayClaim(_ name: String, namespace: String) -> Bool {
        guard let owner, let owning = owner(Self.normalize(name)) else { return true }
        return owning == namespace
    }

    /// The store key of the namespace whose domain configuration serves `serverName`, if one does.
    public func domainNamespace(serverName: String) -> String? {
        let name = Self.normalize(serverName)
        return state.withLockedValue { $0.domains[name]?.namespace }
    }

    /// Replaces the default domain's certificates (rotation of the data folder's files). A set that does
    /// not load is refused and the current one stays in service.
    public func replaceDefaultCertificates(_ material: GatewayTLSMaterial) throws {
        var policy = state.withLockedValue { $0.defaultPolicy }
        while true {
            let context = try Self.makeContext(material: material, policy: policy, port: port)
            let committed = state.withLockedValue { state -> Bool in
                // The policy changed while the context was built: build again for the current one.
                guard state.defaultPolicy == policy else {
                    policy = state.defaultPolicy
                    return false
                }
                state.material = material
                state.defaultGeneration += 1
                state.defaultContext = context
                state.defaultNames = Self.dnsNames(material.serverCertificateChainPEM)
                state.cache["default/\(state.defaultGeneration)/\(policy.rawValue)"] = context
                return true
            }
            if committed { return }
        }
    }

    static func makeContext(material: GatewayTLSMaterial, policy: TLSSecurityPolicy, port: TLSSecurityPolicy.Port) throws -> NIOSSLContext {
        // The shared port offers its protocols by ALPN, and a client certificate is optional there
        // (HTTPS and WebSocket clients may sign with SigV4 instead).
        try BoringSSLServerContext.make(policy: policy, port: port, credentials: material.credentials,
                                        trustedCACertificatesPEM: material.trustedCACertificatesPEM,
                                        applicationProtocols: port == .shared ? SharedPortProtocol.offered : [],
                                        clientCertificateOptional: port == .shared)
    }

    static func normalize(_ name: String) -> String {
        var lowered = name.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return lowered
    }

    static func isIPLiteral(_ name: String) -> Bool {
        IPAddressParser.parse(name) != nil || name.hasPrefix("[")
    }

    static func dnsNames(_ chainPEM: String) -> Set<String> {
        let leaf = try? PEM.parseCertificates(pem: chainPEM).first
        let names = (try? leaf?.extensions.subjectAlternativeNames).flatMap { $0 }.map { names in
            names.compactMap { name -> String? in if case .dnsName(let value) = name { value.lowercased() } else { nil } }
        } ?? []
        return Set(names)
    }
}
