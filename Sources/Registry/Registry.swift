/// The one owner of the registry's state: operations run one at a time, each all or nothing.
/// In memory for now; the SQLite store (GRDB) will persist the same state through the same calls.
public actor Registry {
    private var state: RegistryState

    public init(arns: ARNs) {
        self.state = RegistryState(arns: arns)
    }

    public var arns: ARNs { state.arns }

    /// Runs one operation on the state. A thrown error leaves the state as it was.
    public func perform<T: Sendable>(_ operation: @Sendable (inout RegistryState) throws(RegistryError) -> T) throws(RegistryError) -> T {
        var copy = state
        let result = try operation(&copy)
        state = copy
        return result
    }

    public func read<T: Sendable>(_ query: @Sendable (RegistryState) throws(RegistryError) -> T) throws(RegistryError) -> T {
        try query(state)
    }
}
