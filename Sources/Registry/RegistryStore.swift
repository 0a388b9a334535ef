import Foundation

/// Where the registry's state is kept. The rules live in `RegistryState`; a store only loads what it
/// holds and writes what an operation changed, all of it or none (one transaction).
public protocol RegistryStore: Sendable {
    func loadPolicies() throws -> [Policy]
    func apply(_ changes: RegistryChanges) throws
}

/// The objects one operation created, changed or deleted.
public struct RegistryChanges: Sendable, Hashable {
    public var upsertedPolicies: [Policy] = []
    public var deletedPolicies: [String] = []

    public var isEmpty: Bool { upsertedPolicies.isEmpty && deletedPolicies.isEmpty }
}

/// A store in memory, for tests and for a gateway run without a data folder. It outlives a `Registry`
/// built over it, so tests can "restart" onto the same contents.
public final class InMemoryRegistryStore: RegistryStore, @unchecked Sendable {
    private let lock = NSLock()
    private var policies: [String: Policy] = [:]

    public init() {}

    public func loadPolicies() throws -> [Policy] { lock.withLock { Array(policies.values) } }

    public func apply(_ changes: RegistryChanges) throws {
        lock.withLock {
            for policy in changes.upsertedPolicies { policies[policy.name] = policy }
            for name in changes.deletedPolicies { policies[name] = nil }
        }
    }
}
