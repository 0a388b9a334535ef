import Foundation

/// Where the registry's state is kept. The rules live in `RegistryState`; a store only loads what it
/// holds and writes what an operation changed, all of it or none (one transaction).
public protocol RegistryStore: Sendable {
    func loadPolicies() throws -> [Policy]
    func loadThings() throws -> [Thing]
    func apply(_ changes: RegistryChanges) throws
}

/// The objects one operation created, changed or deleted.
public struct RegistryChanges: Sendable, Hashable {
    public var upsertedPolicies: [Policy] = []
    public var deletedPolicies: [String] = []
    public var upsertedThings: [Thing] = []
    public var deletedThings: [String] = []

    public init(upsertedPolicies: [Policy] = [], deletedPolicies: [String] = [], upsertedThings: [Thing] = [], deletedThings: [String] = []) {
        self.upsertedPolicies = upsertedPolicies
        self.deletedPolicies = deletedPolicies
        self.upsertedThings = upsertedThings
        self.deletedThings = deletedThings
    }

    public var isEmpty: Bool { upsertedPolicies.isEmpty && deletedPolicies.isEmpty && upsertedThings.isEmpty && deletedThings.isEmpty }
}

/// A store in memory, for tests and for a gateway run without a data folder. It outlives a `Registry`
/// built over it, so tests can "restart" onto the same contents.
public final class InMemoryRegistryStore: RegistryStore, @unchecked Sendable {
    private let lock = NSLock()
    private var policies: [String: Policy] = [:]
    private var things: [String: Thing] = [:]

    public init() {}

    public func loadPolicies() throws -> [Policy] { lock.withLock { Array(policies.values) } }
    public func loadThings() throws -> [Thing] { lock.withLock { Array(things.values) } }

    public func apply(_ changes: RegistryChanges) throws {
        lock.withLock {
            for policy in changes.upsertedPolicies { policies[policy.name] = policy }
            for name in changes.deletedPolicies { policies[name] = nil }
            for thing in changes.upsertedThings { things[thing.name] = thing }
            for name in changes.deletedThings { things[name] = nil }
        }
    }
}
