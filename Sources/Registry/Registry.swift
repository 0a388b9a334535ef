import X509

/// The one owner of the registry's state: operations run one at a time, each all or nothing. The
/// store writes what an operation changed before the change becomes visible; if it cannot, the
/// operation fails with InternalFailureException and nothing changes.
///
/// Store writes are synchronous inside the actor (SQLite in WAL mode takes well under a millisecond
/// for an API call's worth of rows), so two operations can never interleave around a write. The actor
/// runs on Swift's concurrency pool, never on an event loop.
public actor Registry {
    private var state: RegistryState
    private let store: any RegistryStore

    /// Sees the state and what changed (every kind, and no previous state, the first time).
    public typealias Observer = @Sendable (RegistryState, RegistryUpdate) -> Void
    private var observers: [Observer] = []

    /// - Parameter observer: called with the loaded state, then as `observe` describes.
    public init(arns: ARNs, localCA: Certificate? = nil, store: any RegistryStore = InMemoryRegistryStore(),
                observer: Observer? = nil) throws {
        self.store = store
        self.state = try RegistryState(arns: arns, localCA: localCA, records: try store.loadRecords())
        if let observer {
            observers.append(observer)
            observer(state, RegistryUpdate())
        }
    }

    /// Calls `observer` with the current state now and after every operation that changed it, before
    /// that operation returns: what the gateway derives from the registry (who may connect) is current
    /// by the time an API call answers.
    public func observe(_ observer: @escaping Observer) {
        observers.append(observer)
        observer(state, RegistryUpdate())
    }

    public var arns: ARNs { state.arns }

    /// Runs one operation on the state. A thrown error leaves the state as it was.
    public func perform<T: Sendable>(_ operation: @Sendable (inout RegistryState) throws(RegistryError) -> T) throws(RegistryError) -> T {
        var copy = state
        let result = try operation(&copy)
        let changes = copy.changes(since: state)
        if !changes.isEmpty {
            do {
                try store.apply(changes)
            } catch {
                throw RegistryError(.internalFailure, "The registry could not be written; nothing was changed.")
            }
        }
        let previous = state
        state = copy
        if !changes.isEmpty {
            let update = RegistryUpdate(previous: previous, changes: changes)
            for observer in observers { observer(copy, update) }
        }
        return result
    }

    /// Records the shadow and connectivity fields the gateway read for some things (see
    /// `RegistryState.setLiveFields`). Nothing is stored; when a thing's dynamic group membership changed,
    /// observers hear of it (`RegistryUpdate.membershipChanged`) so authorizations follow.
    public func setLiveFields(_ updates: [String: FleetDocument?], replacingAll: Bool = false) {
        let previous = state
        let changed = state.setLiveFields(updates, replacingAll: replacingAll)
        guard !changed.isEmpty else { return }
        let update = RegistryUpdate(previous: previous, membershipChanged: changed)
        for observer in observers { observer(state, update) }
    }

    public func read<T: Sendable>(_ query: @Sendable (RegistryState) throws(RegistryError) -> T) throws(RegistryError) -> T {
        try query(state)
    }
}

/// What one operation changed, for observers: the kinds of record, the state before, and the records
/// themselves, so an observer looks at what changed instead of comparing whole states.
public struct RegistryUpdate: Sendable {
    /// The kinds of record that changed; every kind the first time (nothing to compare with).
    public let kinds: Set<RegistryRecordKind>
    /// The state before the operation; nil the first time.
    public let previous: RegistryState?
    /// The records written and deleted; nil the first time.
    public let changes: RegistryChanges?

    /// Things whose dynamic group membership changed with their shadow or connectivity (no record changed:
    /// `kinds` is empty then).
    public let membershipChanged: Set<String>

    /// The first call: everything is new.
    init() {
        kinds = Set(RegistryRecordKind.allCases)
        previous = nil
        changes = nil
        membershipChanged = []
    }

    init(previous: RegistryState, changes: RegistryChanges) {
        kinds = Set(changes.upserts.keys.map(\.kind)).union(changes.deletions.map(\.kind))
        self.previous = previous
        self.changes = changes
        membershipChanged = []
    }

    init(previous: RegistryState, membershipChanged: Set<String>) {
        kinds = []
        self.previous = previous
        changes = RegistryChanges()
        self.membershipChanged = membershipChanged
    }

    /// The keys (names) of the records of `kind` the operation deleted.
    public func deleted(_ kind: RegistryRecordKind) -> [String] {
        changes?.deletions.filter { $0.kind == kind }.map(\.key).sorted() ?? []
    }

    /// Every record the operation wrote or deleted; nil the first time (then: all of them).
    public var changedKeys: Set<RegistryRecordKey>? {
        changes.map { Set($0.upserts.keys).union($0.deletions) }
    }
}
