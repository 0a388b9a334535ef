import AWSSigV4
import Broker
import ControlPlane
import DeviceIdentity
import DeviceShadow
import Foundation
import Gateway
import Logging
import NIOConcurrencyHelpers
import Registry
import Rules
import RegistrySQLite

/// One (account, region) namespace of the gateway: its registry (rows of its own in the shared SQLite
/// file), the snapshot handshakes read, the authorizer, the broker with its retained messages and
/// sessions, the shadows and the data-plane keys. Nothing in one is visible from another.
public final class GatewayNamespace: Sendable {
    public let id: NamespaceID
    /// Its rows' key in the store ("" for the default namespace).
    public let storeKey: String
    /// The rules' local tables (the dynamoDB actions write, DynamoDB's API reads).
    let ruleTables: any RuleTableStore
    public let registry: Registry
    public let directory: DeviceDirectory
    public let host: BrokerHost
    public let shadows: ShadowGateway
    public let dataPlaneKeys: DataPlaneKeys
    let authorizer: PolicyAuthorizer
    /// This namespace's view of the store (its shadows, for fleet indexing).
    let store: SQLiteRegistryStore
    /// Things' last disconnects, once the broker has forgotten them.
    let connectivityHistory: ConnectivityHistory
    /// The API routers, made on the first request (the namespace may serve devices only).
    private struct Routers {
        var api: ControlPlaneResponder?
        var shared: ControlPlaneResponder?
    }
    private let routers = NIOLockedValueBox(Routers())

    public var device: DeviceNamespace { DeviceNamespace(name: storeKey, host: host, directory: directory) }

    /// What every namespace shares: the configuration, the store file, the local CA, the admin keys,
    /// the server TLS directories its domain configurations feed, the event sink.
    struct Shared: Sendable {
        let configuration: PortcullisConfiguration
        let store: SQLiteRegistryStore
        let localCA: CertificateAuthority
        /// Admin access keys by account.
        let adminKeys: [String: [SigV4Credential]]
        let serverTLS: [ServerTLSDirectory]
        let eventSink: (any IoTEventSink)?
        let logger: Logger
    }

    init(id: NamespaceID, storeKey: String, shared: Shared) throws {
        self.id = id
        self.storeKey = storeKey
        let configuration = shared.configuration
        var iotLogger = shared.logger
        iotLogger.logLevel = PortcullisServer.swiftLogLevel(configuration.logLevel)
        let sink = shared.eventSink ?? LoggingIoTEventSink(logger: iotLogger, accountID: id.accountID)
        // The registry decides who may connect and what each client may do: the directory holds its
        // latest snapshot, and every change closes the connections it no longer admits and re-authorizes
        // the others (within the API call that made it).
        let directory = DeviceDirectory()
        self.directory = directory
        let arns = id.arns
        let adminIDs = Set((shared.adminKeys[id.accountID] ?? []).map(\.accessKeyID))
        let dataPlaneKeys = DataPlaneKeys()
        self.dataPlaneKeys = dataPlaneKeys
        // MQTT over WebSocket signed with temporary credentials has its role alias's policy.
        let authorizer = PolicyAuthorizer(directory: directory, arns: arns, adminPrincipals: adminIDs,
                                          temporaryKeyRole: { dataPlaneKeys.temporaryRole($0) })
        self.authorizer = authorizer
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
        // Shadows live in the registry's database; the service answers MQTT and HTTPS requests.
        let store = shared.store.namespace(storeKey)
        ruleTables = store
        self.store = store
        let shadows = ShadowGateway(service: ShadowService(store: store), host: host)
        self.shadows = shadows
        host.onServiceRequest { shadows.handle($0) }
        // Dynamic groups may select by shadow and connectivity fields: the registry hears of those changes.
        let history = ConnectivityHistory(store: store, host: host, directory: directory, logger: shared.logger)
        self.connectivityHistory = history
        let live = LiveFleetFields { things, names in
            Self.liveFields(store: store, host: host, history: history, things: things, names: names)
        }
        shadows.onChange { live.changed($0, shadow: true) }
        // Topic rules: the broker hands over the messages their FROM filters (and Basic Ingest) name.
        let rules = RulesRuntime(host: host, store: store, arns: arns, namespace: storeKey, dataDirectory: configuration.dataDirectory,
                                 settings: configuration.rules, logger: shared.logger, registry: { directory.registryState?.state })
        host.onRuleMessage { rules.handle($0) }
        host.onPresenceChange { clientID in
            live.changed(clientID, shadow: false)
            history.changed(clientID)
        }
        let serverTLS = shared.serverTLS
        let accountID = id.accountID
        self.registry = try Registry(
            arns: arns, localCA: shared.localCA.certificate, store: store,
            observer: { state, update in
                if !update.membershipChanged.isEmpty {
                    // A thing joined or left a dynamic group by its shadow or connectivity.
                    directory.update(from: state, identities: false)
                    return
                }
                let changed = update.kinds
                if changed.contains(.topicRule) { rules.update(state.allTopicRules) }
                if changed.contains(.topicRuleDestination) {
                    rules.updateDestinations(state.allTopicRuleDestinations, initial: update.previous == nil)
                }
                if changed.contains(.thingGroup) || changed.contains(.indexingConfiguration) { live.wanted(state.liveFieldNames) }
                if changed.contains(.thing) {
                    live.registered(update.changes?.upserts.keys.filter { $0.kind == .thing }.map(\.key) ?? [])
                }
                // A deleted thing's shadows and last disconnect are deleted with it.
                for name in update.deleted(.thing) { shadows.thingDeleted(name) }
                history.forget(update.deleted(.thing))
                if let before = update.previous, !changed.isDisjoint(with: [.thing, .thingType, .thingGroup, .groupMemberships]) {
                    for event in RegistryEvents.between(before, state, changed: update.changedKeys, accountID: accountID,
                                                        nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)) {
                        host.publishServiceEvent(topic: event.topic, payload: event.payload)
                    }
                }
                // Domain configurations and their certificates change what TLS serves.
                if !changed.isDisjoint(with: [.domainConfiguration, .serverCertificate]) {
                    for directory in serverTLS { directory.update(from: state, namespace: storeKey) }
                }
                // Keys, their policies, and what temporary credentials are checked and authorized by.
                if !changed.isDisjoint(with: [.accessKey, .policy, .roleAlias, .setting]) { dataPlaneKeys.update(from: state) }
                // Settings, tags and TLS settings change nothing a connection is allowed.
                guard !changed.isSubset(of: [.setting, .tags, .domainConfiguration, .serverCertificate, .topicRule, .topicRuleDestination]) else { return }
                // A deleted access key ends the WebSocket connections it signed.
                directory.update(from: state, identities: !changed.isDisjoint(with: [.certificate, .caCertificate, .revocationList, .accessKey]))
            })
        let registry = self.registry
        live.attach(registry)
        rules.onConfirmationFailed { id, token, reason in
            Task {
                let now = Date().timeIntervalSince1970
                _ = try? await registry.perform { state throws(RegistryError) in
                    state.failTopicRuleDestinationConfirmation(id: id, token: token, reason: reason, now: now)
                }
            }
        }
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
                                         payload: PortcullisServer.certificateRegisteredEvent(registered, accountID: accountID, now: now))
            }
        }
    }

    /// The control-plane and iot-data router of this namespace, made once.
    func apiResponder(_ make: () -> ControlPlaneResponder) -> ControlPlaneResponder { responder(\.api, make) }

    /// The shared port's iot-data router of this namespace, made once.
    func sharedResponder(_ make: () -> ControlPlaneResponder) -> ControlPlaneResponder { responder(\.shared, make) }

    private func responder(_ slot: WritableKeyPath<Routers, ControlPlaneResponder?>, _ make: () -> ControlPlaneResponder) -> ControlPlaneResponder {
        if let made = routers.withLockedValue({ $0[keyPath: slot] }) { return made }
        let made = make()
        return routers.withLockedValue { routers in
            if let existing = routers[keyPath: slot] { return existing }
            routers[keyPath: slot] = made
            return made
        }
    }
}

/// Fleet indexing reads this namespace's shadows from its store and connectivity from its broker.
extension GatewayNamespace: FleetIndexSource {
    public func shadows(thingNames: [String], named: [String]) async -> [String: (fields: [String: [FleetValue]], json: String)] {
        Self.shadows(in: store, thingNames: thingNames, named: named)
    }

    static func shadows(in store: SQLiteRegistryStore, thingNames: [String], named: [String]) -> [String: (fields: [String: [FleetValue]], json: String)] {
        var found: [String: (fields: [String: [FleetValue]], json: String)] = [:]
        let stored = (try? store.loadShadows(thingNames: thingNames, named: named)) ?? [:]
        for thing in thingNames {
            var fields: [String: [FleetValue]] = [:]
            var document: [String: JSONValue] = [:]
            var names: [String: JSONValue] = [:]
            for name in [nil] + named.map(Optional.some) {
                guard let id = ShadowID(thingName: thing, shadowName: name), let shadow = stored[id], shadow.exists else { continue }
                let prefix = name.map { "shadow.name.\($0)" } ?? "shadow"
                var sections: [String: JSONValue] = ["version": .integer(shadow.version)]
                if let reported = shadow.reported { sections["reported"] = .object(reported) }
                if let desired = shadow.desired { sections["desired"] = .object(desired) }
                let delta = shadow.delta
                if let delta { sections["delta"] = .object(delta.state) }
                sections["hasDelta"] = .bool(delta != nil)
                var metadata: [String: JSONValue] = [:]
                if let reported = shadow.metadataReported { metadata["reported"] = .object(reported) }
                if let desired = shadow.metadataDesired { metadata["desired"] = .object(desired) }
                if !metadata.isEmpty { sections["metadata"] = .object(metadata) }
                for section in ["reported", "desired", "delta", "metadata"] {
                    if let value = sections[section] { Self.flatten(value, at: "\(prefix).\(section)", into: &fields) }
                }
                fields["\(prefix).hasDelta", default: []].append(.bool(delta != nil))
                if let name { names[name] = .object(sections) } else { document = sections }
            }
            if !names.isEmpty { document["name"] = .object(names) }
            if !document.isEmpty { found[thing] = (fields, JSONValue.object(document).text) }
        }
        return found
    }

    static func flatten(_ value: JSONValue, at path: String, into fields: inout [String: [FleetValue]]) {
        switch value {
        case .object(let members): for (key, member) in members { flatten(member, at: "\(path).\(key)", into: &fields) }
        case .array(let elements): for element in elements { flatten(element, at: path, into: &fields) }
        case .string(let text): fields[path, default: []].append(.string(text))
        case .integer(let number): fields[path, default: []].append(.number(Double(number)))
        case .number(let number): fields[path, default: []].append(.number(number))
        case .bool(let flag): fields[path, default: []].append(.bool(flag))
        case .null: break
        }
    }

    public func connectivity(thingName: String) -> (connected: Bool, timestamp: Int64?, disconnectReason: String?) {
        Self.connectivity(on: host, history: connectivityHistory, thingName: thingName)
    }

    /// What the broker knows of the client id, else the thing's last disconnect the history kept.
    static func connectivity(on host: BrokerHost, history: ConnectivityHistory, thingName: String)
        -> (connected: Bool, timestamp: Int64?, disconnectReason: String?)
    {
        if let known = host.connectivity(clientID: thingName) { return (known.connected, known.epochMilliseconds, known.disconnectReason) }
        guard let last = history.lastDisconnect(of: thingName) else { return (false, nil, nil) }
        return (false, last.epochMilliseconds, last.reason)
    }

    /// The fields among `names` (shadow and connectivity fields) of some things, as SearchIndex reads them.
    static func liveFields(store: SQLiteRegistryStore, host: BrokerHost, history: ConnectivityHistory, things: [String],
                           names: Set<String>) -> [String: FleetDocument] {
        var found: [String: FleetDocument] = [:]
        let shadowFields = names.filter { $0.hasPrefix("shadow.") }
        if !shadowFields.isEmpty {
            // `shadow.name.<name>.…`: shadow names have no dots.
            let named = Set(shadowFields.compactMap { field -> String? in
                let parts = field.split(separator: ".", omittingEmptySubsequences: false)
                return parts.count > 3 && parts[1] == "name" ? String(parts[2]) : nil
            })
            for (thing, shadow) in shadows(in: store, thingNames: things, named: named.sorted()) {
                for (field, values) in shadow.fields where names.contains(field) {
                    for value in values { found[thing, default: FleetDocument()].add(field, value) }
                }
            }
        }
        if names.contains(where: { $0.hasPrefix("connectivity.") }) {
            for thing in things {
                let connectivity = connectivity(on: host, history: history, thingName: thing)
                var document = found[thing] ?? FleetDocument()
                document.add("connectivity.connected", .bool(connectivity.connected))
                if let timestamp = connectivity.timestamp { document.add("connectivity.timestamp", .number(Double(timestamp))) }
                if let reason = connectivity.disconnectReason { document.add("connectivity.disconnectReason", .string(reason)) }
                found[thing] = document
            }
        }
        return found
    }
}

/// Every namespace the gateway has made: the default one from the start, the namespaces with rows in
/// the store at start, the others on first use (an API call signed for their region, a device that
/// connects to one of their names). A region outside the allowed ones is refused, so the number of
/// namespaces is bounded by the accounts times the regions.
public final class NamespaceDirectory: Sendable {
    public let hostNames: NamespaceHostNames
    public let primary: GatewayNamespace
    private let shared: GatewayNamespace.Shared
    private let made = NIOLockedValueBox<[NamespaceID: GatewayNamespace]>([:])
    /// Told of each namespace made after start (the listeners' timers adopt its broker).
    private let created = NIOLockedValueBox<[@Sendable (GatewayNamespace) -> Void]>([])

    init(hostNames: NamespaceHostNames, shared: GatewayNamespace.Shared) throws {
        self.hostNames = hostNames
        self.shared = shared
        let primary = try GatewayNamespace(id: hostNames.defaultNamespace, storeKey: "", shared: shared)
        self.primary = primary
        var made: [NamespaceID: GatewayNamespace] = [hostNames.defaultNamespace: primary]
        // Namespaces that hold anything are loaded now: their certificates may connect, their keys sign.
        for key in try shared.store.namespacesInUse().sorted() where !key.isEmpty {
            guard let id = NamespaceID.fromStoreKey(key, defaultNamespace: hostNames.defaultNamespace), id != hostNames.defaultNamespace,
                  hostNames.allows(region: id.region), hostNames.accounts.contains(id.accountID) else {
                // An account or region no longer configured keeps its rows, unserved.
                shared.logger.warning("namespace not served: its account or region is not configured", metadata: ["namespace": "\(key)"])
                continue
            }
            made[id] = try GatewayNamespace(id: id, storeKey: key, shared: shared)
        }
        self.made.withLockedValue { $0 = made }
    }

    /// Every namespace made so far.
    public var all: [GatewayNamespace] { made.withLockedValue { Array($0.values) } }

    public func existing(_ id: NamespaceID) -> GatewayNamespace? { made.withLockedValue { $0[id] } }

    /// The namespace, made now if it is new; nil for a region that is not allowed, an account that is
    /// not configured, or a store that cannot be read.
    public func namespace(_ id: NamespaceID) -> GatewayNamespace? {
        if let namespace = existing(id) { return namespace }
        guard hostNames.allows(region: id.region), hostNames.accounts.contains(id.accountID) else { return nil }
        let key = id.storeKey(defaultNamespace: hostNames.defaultNamespace)
        // Built outside the lock (it reads the store): handshakes and requests of other namespaces do not
        // wait for it. Two callers may build one each; the first one kept wins (building writes nothing).
        guard let built = try? GatewayNamespace(id: id, storeKey: key, shared: shared) else { return nil }
        let (namespace, isNew) = made.withLockedValue { made -> (GatewayNamespace, Bool) in
            if let namespace = made[id] { return (namespace, false) }
            made[id] = built
            return (built, true)
        }
        if isNew {
            shared.logger.info("namespace created", metadata: ["account": "\(id.accountID)", "region": "\(id.region)"])
            for listener in created.withLockedValue({ $0 }) { listener(namespace) }
        }
        return namespace
    }

    func onCreate(_ listener: @escaping @Sendable (GatewayNamespace) -> Void) {
        created.withLockedValue { $0.append(listener) }
    }

    /// The account an access key belongs to: an admin key's, or the account of a namespace of `region`
    /// whose registry holds it as a data-plane key; nil for a key nobody knows.
    /// A temporary key's is the account whose namespace's key made its session token.
    func account(ofAccessKey accessKeyID: String, region: String, sessionToken: String? = nil) -> String? {
        for (account, keys) in shared.adminKeys where keys.contains(where: { $0.accessKeyID == accessKeyID }) { return account }
        if let sessionToken, TemporaryCredentials.isTemporaryKey(accessKeyID) {
            return all.first { $0.id.region == region && $0.dataPlaneKeys.admit(sessionToken: sessionToken) == accessKeyID }?.id.accountID
        }
        return all.first { $0.id.region == region && $0.dataPlaneKeys.contains(accessKeyID) }?.id.accountID
    }

    /// The namespace a device reaches by the server name it sent (already lower case); nil: the default.
    func deviceNamespace(forServerName name: String, domains: ServerTLSDirectory) -> DeviceNamespace? {
        let byRule = hostNames.namespace(forServerName: name)
        if let key = domains.domainNamespace(serverName: name),
           byRule.map({ $0.storeKey(defaultNamespace: hostNames.defaultNamespace) == key }) ?? true {
            return all.first { $0.storeKey == key }?.device ?? unavailable
        }
        guard let id = byRule else {
            // A regional name of a region that is not served reaches nothing, not the default namespace.
            return hostNames.looksRegional(name) ? unavailable : nil
        }
        guard id != hostNames.defaultNamespace else { return nil }
        // A namespace that cannot be opened is not the default one: the connection is verified against
        // an empty directory (nothing is admitted) rather than against another namespace's registry.
        return namespace(id)?.device ?? unavailable
    }

    /// Where a connection whose namespace cannot be served goes: a directory that admits nothing.
    private var unavailable: DeviceNamespace { DeviceNamespace(name: "unavailable", host: primary.host, directory: DeviceDirectory()) }
}
