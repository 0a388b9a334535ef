import Foundation

/// Where the registry's state is kept. The rules live in `RegistryState`; a store only loads what it
/// holds and writes what an operation changed, all of it or none (one transaction).
///
/// A store holds records: one JSON document per object, keyed by its kind and its name or id. New
/// kinds of object need no new store code, and every store passes the same contract tests.
public protocol RegistryStore: Sendable {
    func loadRecords() throws -> [RegistryRecordKey: Data]
    func apply(_ changes: RegistryChanges) throws
}

/// The kinds of record. The raw values are stored: never change one that has shipped.
public enum RegistryRecordKind: String, Sendable, Hashable, CaseIterable, Codable {
    case policy
    case thing
    case certificate
    case caCertificate = "ca-certificate"
    /// Per policy: the targets (certificate ARNs) it is attached to.
    case policyTargets = "policy-targets"
    /// Per thing: its principals (certificate ARNs) and how each is attached.
    case thingPrincipals = "thing-principals"
    /// Single values such as the CA registration code.
    case setting
    case thingType = "thing-type"
    case thingGroup = "thing-group"
    /// Per thing: the static thing groups it is in.
    case groupMemberships = "group-memberships"
    /// Per resource ARN: its tags.
    case tags
    /// Per CA certificate id: its certificate revocation list.
    case revocationList = "revocation-list"
    /// Per ACM certificate id: an imported server certificate and its key.
    case serverCertificate = "server-certificate"
    /// Per name: a domain configuration.
    case domainConfiguration = "domain-configuration"
    /// Per access key id: a data-plane key and its IoT policies.
    case accessKey = "access-key"
    /// Per event type (THING, THING_GROUP, ...): whether registry events of that type are published.
    case eventConfiguration = "event-configuration"
    /// Per name: a billing group.
    case billingGroup = "billing-group"
    /// Per name: a role alias.
    case roleAlias = "role-alias"
    case topicRule = "topic-rule"
    /// Per id: a topic rule destination.
    case topicRuleDestination = "topic-rule-destination"
    /// The fleet-indexing configuration (one record).
    case indexingConfiguration = "indexing-configuration"
}

public struct RegistryRecordKey: Sendable, Hashable, Codable {
    public var kind: RegistryRecordKind
    public var key: String

    public init(_ kind: RegistryRecordKind, _ key: String) {
        self.kind = kind
        self.key = key
    }
}

/// The records one operation created, changed or deleted.
public struct RegistryChanges: Sendable, Hashable {
    public var upserts: [RegistryRecordKey: Data] = [:]
    public var deletions: Set<RegistryRecordKey> = []

    public init(upserts: [RegistryRecordKey: Data] = [:], deletions: Set<RegistryRecordKey> = []) {
        self.upserts = upserts
        self.deletions = deletions
    }

    public var isEmpty: Bool { upserts.isEmpty && deletions.isEmpty }
}

/// A store in memory, for tests and for a gateway run without a data folder. It outlives a `Registry`
/// built over it, so tests can "restart" onto the same contents.
public final class InMemoryRegistryStore: RegistryStore, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [RegistryRecordKey: Data] = [:]

    public init() {}

    public func loadRecords() throws -> [RegistryRecordKey: Data] { lock.withLock { records } }

    public func apply(_ changes: RegistryChanges) throws {
        lock.withLock {
            for (key, data) in changes.upserts { records[key] = data }
            for key in changes.deletions { records[key] = nil }
        }
    }
}
