import Broker
import Foundation
import IoTPolicy
import NIOConcurrencyHelpers
import Registry

/// The broker's authorizer backed by the registry: a connection's policies are its certificate's and its
/// thing's groups' (reference 3.6), compiled once against its variables at CONNECT and again only when
/// something they were made from changes (a default version, an attachment, the thing, its groups).
/// Decisions are cached per connection by action and resource name. A connection signed with SigV4
/// (MQTT over WebSocket) has the access key as its principal: a data-plane key's policies apply, and
/// an admin key may do anything.
public final class PolicyAuthorizer: BrokerAuthorizer, Sendable {
    let directory: DeviceDirectory
    let arnPrefix: String
    let adminPrincipals: Set<String>
    /// The role alias of a temporary access key (the credentials provider's), if the principal is one, with
    /// the `credentials-iot:*` variables its role's policy sees.
    public typealias TemporaryKeyRole = @Sendable (String) -> (alias: String, variables: [String: String])?
    let temporaryKeyRole: TemporaryKeyRole

    /// What an admin access key may do over MQTT: everything.
    static let adminPolicy = Inputs.PolicyInput(
        name: "portcullis-admin-access-key", versionID: "1",
        document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#)

    private struct Caches {
        /// Parsed and prepared documents by their text: a policy is parsed once, not once per connection.
        var documents: [String: PreparedPolicy] = [:]
        /// Certificate variables by certificate id (a certificate id names one certificate forever).
        var certificates: [String: AuthorizationContext] = [:]
    }
    private let caches = NIOLockedValueBox(Caches())
    static let maximumCachedEntries = 10_000

    /// - Parameter adminPrincipals: the admin access key ids (SigV4 principals allowed everything).
    public init(directory: DeviceDirectory, arns: ARNs, adminPrincipals: Set<String> = [],
                temporaryKeyRole: @escaping TemporaryKeyRole = { _ in nil }) {
        self.temporaryKeyRole = temporaryKeyRole
        self.directory = directory
        self.arnPrefix = arns.prefix
        self.adminPrincipals = adminPrincipals
    }

    /// What an authorization was made from; equal inputs give equal decisions.
    struct Inputs: Equatable {
        struct PolicyInput: Equatable {
            var name: String
            var versionID: String
            var document: String
        }
        var policies: [PolicyInput]
        var thing: Thing?
        var thingGroups: [String]
    }

    func inputs(_ request: ConnectAuthorizationRequest, _ registry: (state: RegistryState, index: AuthorizationIndex)) -> Inputs {
        let (state, index) = registry
        let principal = request.connection.principalID
        if adminPrincipals.contains(principal) { return Inputs(policies: [Self.adminPolicy], thing: nil, thingGroups: []) }
        if let (alias, _) = temporaryKeyRole(principal) {
            let policies = state.roleAliasPolicyRecords(alias)
            return Inputs(policies: policies.map { .init(name: $0.name, versionID: $0.defaultVersionID, document: $0.defaultVersion.document) },
                          thing: nil, thingGroups: [])
        }
        if let keyPolicies = state.accessKeyPolicyRecords(principal) {
            return Inputs(policies: keyPolicies.map { .init(name: $0.name, versionID: $0.defaultVersionID, document: $0.defaultVersion.document) },
                          thing: nil, thingGroups: [])
        }
        let policies = state.effectivePolicies(certificateID: principal, clientID: request.clientID, index: index)
        let thing = state.connectedThing(certificateID: principal, clientID: request.clientID, index: index)
        return Inputs(
            policies: policies.map { .init(name: $0.name, versionID: $0.defaultVersionID, document: $0.defaultVersion.document) },
            thing: thing, thingGroups: thing.map { state.thingGroups(ofThing: $0.name) } ?? [])
    }

    public func authorization(for request: ConnectAuthorizationRequest) -> any ConnectionAuthorization {
        let (registry, generation) = directory.registrySnapshot
        guard let registry else { return DenyAll(reason: "the registry is not loaded yet") }
        return make(request, inputs(request, registry), registry, generation: generation)
    }

    public func refreshed(_ current: any ConnectionAuthorization, for request: ConnectAuthorizationRequest) -> (any ConnectionAuthorization)? {
        let (registry, generation) = directory.registrySnapshot
        guard let registry else { return nil }
        let inputs = inputs(request, registry)
        if let current = current as? PolicyConnectionAuthorization, current.inputs == inputs { return nil }
        return make(request, inputs, registry, generation: generation)
    }

    public func isCurrent(_ authorization: any ConnectionAuthorization) -> Bool {
        guard let authorization = authorization as? PolicyConnectionAuthorization else { return false }
        return authorization.generation == directory.generation
    }

    /// The policies parsed and prepared (each document text once, cached) and the certificate's fields
    /// (cached for a registered certificate). Looked up under the lock, made outside it: many first
    /// connections at once must not queue behind one another's parsing.
    func prepared(_ inputs: [Inputs.PolicyInput], certificateFields principal: String, _ state: RegistryState)
        -> (policies: [NamedPolicy], fields: AuthorizationContext)
    {
        let (known, knownFields) = caches.withLockedValue { caches in
            (inputs.map { caches.documents[$0.document] }, caches.certificates[principal])
        }
        var made: [String: PreparedPolicy] = [:]
        var policies: [NamedPolicy] = []
        for (input, cached) in zip(inputs, known) {
            var prepared = cached ?? made[input.document]
            if prepared == nil, let parsed = try? PolicyDocument.parse(input.document) {
                // Stored documents passed the grammar at CreatePolicy; one that no longer does grants nothing.
                prepared = PreparedPolicy(parsed)
                made[input.document] = prepared
            }
            if let prepared { policies.append(NamedPolicy(name: input.name, versionID: input.versionID, prepared: prepared)) }
        }
        let fields = knownFields ?? state.certificateContext(certificateID: principal)
        // Certificate fields are kept only for a certificate the registry has (they never change).
        let keepFields = knownFields == nil && (try? state.certificate(id: principal)) != nil
        if !made.isEmpty || keepFields {
            caches.withLockedValue { caches in
                if caches.documents.count + made.count > Self.maximumCachedEntries { caches.documents.removeAll() }
                if caches.certificates.count >= Self.maximumCachedEntries { caches.certificates.removeAll() }
                caches.documents.merge(made) { existing, _ in existing }
                if keepFields { caches.certificates[principal] = fields }
            }
        }
        return (policies, fields)
    }

    func make(_ request: ConnectAuthorizationRequest, _ inputs: Inputs,
              _ registry: (state: RegistryState, index: AuthorizationIndex), generation: UInt64) -> PolicyConnectionAuthorization {
        let state = registry.state
        let principal = request.connection.principalID
        let (policies, fields) = prepared(inputs.policies, certificateFields: principal, state)
        var context = state.authorizationContext(certificateID: principal, clientID: request.clientID,
                                                 sourceIP: Self.policySourceIP(request.connection.sourceIP), certificateFields: fields,
                                                 thing: inputs.thing)
        var attributes: [String] = []
        if request.persistentSession { attributes.append("PersistentConnect") }
        if request.willTopic != nil { attributes.append("LastWill") }
        context.set("iot:ConnectAttributes", values: attributes)
        context.set("iot:LastWillTopic", request.willTopic)
        context.set("iot:DomainName", request.connection.serverName)
        if let (_, variables) = temporaryKeyRole(principal) {
            for (name, value) in variables { context.set(name, value) }
        }
        let authorizer = ConnectionAuthorizer(policies: CompiledPolicySet(policies: policies, context: context), arnPrefix: arnPrefix)
        return PolicyConnectionAuthorization(authorizer: authorizer, inputs: inputs, generation: generation)
    }
}

extension PolicyAuthorizer {
    /// An HTTPS request authenticated by a client certificate (reference 6): the certificate's policies
    /// decide every check in turn, with its fields and the source address as variables (HTTPS has no
    /// client id, so no thing is connected). Nil when all are allowed, else the first denial explained.
    public func authorizeCertificateRequest(certificateID: String, sourceIP: String?, serverName: String?,
                                            checks: [(action: IoTAction, resource: String)], now: Date) -> String? {
        guard directory.admits(certificateID) else { return "the client certificate \(certificateID) is not ACTIVE" }
        guard let (state, index) = directory.registryState else { return "the registry is not loaded yet" }
        let inputs = state.effectivePolicies(certificateID: certificateID, clientID: nil, index: index)
            .map { Inputs.PolicyInput(name: $0.name, versionID: $0.defaultVersionID, document: $0.defaultVersion.document) }
        // The same caches as connections: a document is parsed once, not on every request.
        let (policies, fields) = prepared(inputs, certificateFields: certificateID, state)
        var context = state.authorizationContext(certificateID: certificateID, clientID: nil, sourceIP: sourceIP.map(Self.policySourceIP),
                                                 certificateFields: fields, thing: .some(nil))
        context.set("iot:DomainName", serverName)
        let compiled = CompiledPolicySet(policies: policies, context: context)
        for (action, resource) in checks {
            let arn = resource == "*" ? "*" : arnPrefix + action.resourceType + resource
            let decision = compiled.decide(action, resource: arn, now: now)
            if !decision.isAllowed { return decision.explanation(action: action, resource: arn, policyCount: policies.count) }
        }
        return nil
    }

    /// An IPv4 client of a dual-stack listener shows up as `::ffff:a.b.c.d`; policies name it as IPv4.
    static func policySourceIP(_ address: String) -> String {
        let lower = address.lowercased()
        if lower.hasPrefix("::ffff:"), lower.dropFirst(7).contains(".") { return String(address.dropFirst(7)) }
        return address
    }
}

/// One connection's decisions, from its compiled policies.
final class PolicyConnectionAuthorization: ConnectionAuthorization {
    let authorizer: ConnectionAuthorizer
    let inputs: PolicyAuthorizer.Inputs
    /// The directory generation it was made from (what `isCurrent` compares for a preauthorization).
    let generation: UInt64

    init(authorizer: ConnectionAuthorizer, inputs: PolicyAuthorizer.Inputs, generation: UInt64) {
        self.authorizer = authorizer
        self.inputs = inputs
        self.generation = generation
    }

    func decide(_ action: DeviceAction, _ resource: String, at now: BrokerInstant) -> AuthorizationVerdict {
        let iotAction: IoTAction
        switch action {
        case .connect: iotAction = .connect
        case .publish: iotAction = .publish
        case .retainPublish: iotAction = .retainPublish
        case .subscribe: iotAction = .subscribe
        case .receive: iotAction = .receive
        }
        let decision = authorizer.decide(iotAction, name: resource, now: Date(timeIntervalSince1970: Double(now.epochMilliseconds) / 1000))
        if decision.isAllowed { return .allowed }
        // A denial repeats (a `#` subscriber on a busy topic it may not receive): its text is made once.
        let key = ExplanationKey(action: action, resource: resource)
        if !authorizer.policies.dependsOnTime, let known = explanations[key] { return .denied(known) }
        let explanation = decision.explanation(action: iotAction, resource: authorizer.resource(iotAction, resource),
                                               policyCount: authorizer.policies.policyCount)
        if explanations.count >= ConnectionAuthorizer.cacheCapacity { explanations.removeAll(keepingCapacity: true) }
        explanations[key] = explanation
        return .denied(explanation)
    }

    private struct ExplanationKey: Hashable {
        var action: DeviceAction
        var resource: String
    }
    private var explanations: [ExplanationKey: String] = [:]
}

/// Denies everything, saying why (the registry is not loaded).
final class DenyAll: ConnectionAuthorization {
    let reason: String
    init(reason: String) { self.reason = reason }
    func decide(_ action: DeviceAction, _ resource: String, at now: BrokerInstant) -> AuthorizationVerdict { .denied(reason) }
}
