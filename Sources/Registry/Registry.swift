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

    public init(arns: ARNs, store: any RegistryStore = InMemoryRegistryStore()) throws {
        self.store = store
        self.state = RegistryState(arns: arns, policies: try store.loadPolicies(), things: try store.loadThings())
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
        state = copy
        return result
    }

    public func read<T: Sendable>(_ query: @Sendable (RegistryState) throws(RegistryError) -> T) throws(RegistryError) -> T {
        try query(state)
    }
}
