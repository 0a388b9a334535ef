import Synchronization

/// Where shadows are kept (the registry's SQLite database in the gateway). A store call returns once
/// the change is durable.
public protocol ShadowStore: Sendable {
    func loadShadow(_ id: ShadowID) throws -> Shadow?
    func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws
    /// Saves several shadows at once, all or none (one transaction): the changes of a batch of requests.
    func saveShadows(_ shadows: [(ShadowID, Shadow)]) throws
    /// Removes every shadow of a thing (the thing was deleted).
    func deleteShadows(thingName: String) throws
    /// The names of a thing's named shadows that exist (not deleted), sorted.
    func namedShadows(thingName: String) throws -> [String]
}

extension ShadowStore {
    public func saveShadows(_ shadows: [(ShadowID, Shadow)]) throws {
        for (id, shadow) in shadows { try saveShadow(id, shadow) }
    }
}

/// A store in memory, for tests; it outlives a service built over it (a "restart").
public final class InMemoryShadowStore: ShadowStore {
    private let shadows = Mutex<[ShadowID: Shadow]>([:])

    public init() {}

    public func loadShadow(_ id: ShadowID) throws -> Shadow? { shadows.withLock { $0[id] } }
    public func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws { shadows.withLock { $0[id] = shadow } }
    public func deleteShadows(thingName: String) throws { shadows.withLock { $0 = $0.filter { $0.key.thingName != thingName } } }
    public func namedShadows(thingName: String) throws -> [String] {
        shadows.withLock { $0.filter { $0.key.thingName == thingName && $0.value.exists }.compactMap(\.key.shadowName).sorted() }
    }
}

/// One request to the shadow service.
public struct ShadowRequest: Sendable {
    public var operation: ShadowOperation
    public var id: ShadowID
    public var payload: [UInt8]

    public init(_ operation: ShadowOperation, on id: ShadowID, payload: [UInt8]) {
        self.operation = operation
        self.id = id
        self.payload = payload
    }
}

/// The shadow service: one request at a time (an actor), so updates to one shadow from MQTT and HTTPS
/// are serialized and none is lost; each change is in the store before its answer exists. Requests that
/// arrive together run as a batch whose changes are written in one transaction (one disk sync for the
/// batch instead of one per request); answers leave only after it. Recently used shadows are kept in
/// memory (bounded).
public actor ShadowService {
    private let store: any ShadowStore
    private var cache: [ShadowID: Shadow] = [:]
    public static let cacheCapacity = 10_000
    /// The shadows the running batch changed and has not stored yet: read before the cache, which may
    /// be emptied in the middle of a batch when it is full.
    private var unsaved: [ShadowID: Shadow] = [:]
    /// Things deleted whose shadows are still to be removed; marked without waiting for the actor.
    private let deletedThings = Mutex<Set<String>>([])

    public init(store: any ShadowStore) {
        self.store = store
    }

    private func load(_ id: ShadowID) throws(ShadowError) -> Shadow {
        if let changed = unsaved[id] { return changed }
        if let cached = cache[id] { return cached }
        do {
            let shadow = try store.loadShadow(id) ?? Shadow()
            remember(id, shadow)
            return shadow
        } catch {
            throw ShadowError.internalFailure
        }
    }

    private func remember(_ id: ShadowID, _ shadow: Shadow) {
        if cache[id] == nil, cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[id] = shadow
    }

    /// Runs one request: the answer (the accepted document) and, for an update, the delta and
    /// documents messages; or the error document's contents.
    public func perform(_ operation: ShadowOperation, on id: ShadowID, payload: [UInt8], now: Int64) -> Result<ShadowOutcome, ShadowError> {
        perform([ShadowRequest(operation, on: id, payload: payload)], now: now)[0]
    }

    /// Runs requests in order, each seeing the ones before it, and writes what they changed in one
    /// transaction. If that write fails, every request on a shadow the batch changed is an internal failure
    /// (each was decided against a state that was never stored) and those shadows are as the store has them.
    /// A request for a thing whose shadows could not be deleted yet (the store failed) is an internal
    /// failure too: it must not see, or write over, shadows that belong to a deleted thing.
    public func perform(_ requests: [ShadowRequest], now: Int64) -> [Result<ShadowOutcome, ShadowError>] {
        let stillDeleting = applyDeletions()
        var results: [Result<ShadowOutcome, ShadowError>] = []
        results.reserveCapacity(requests.count)
        var order: [ShadowID] = []
        defer { unsaved.removeAll(keepingCapacity: true) }
        for request in requests {
            if stillDeleting.contains(request.id.thingName) {
                results.append(.failure(.internalFailure))
                continue
            }
            let (result, shadow) = run(request, now: now)
            if let shadow {
                if unsaved.updateValue(shadow, forKey: request.id) == nil { order.append(request.id) }
                remember(request.id, shadow)
            }
            results.append(result)
        }
        let changed = unsaved
        guard !changed.isEmpty else { return results }
        do {
            try store.saveShadows(order.map { ($0, changed[$0]!) })
        } catch {
            for id in order { cache[id] = nil }
            for (index, request) in requests.enumerated() where changed[request.id] != nil {
                let token = try? ShadowRules.clientToken(ofRequest: request.payload).get()
                results[index] = .failure(ShadowError.internalFailure.with(clientToken: token ?? nil))
            }
        }
        return results
    }

    /// One request against the cached shadow: its result and the shadow it leaves, if it changed it.
    private func run(_ request: ShadowRequest, now: Int64) -> (Result<ShadowOutcome, ShadowError>, Shadow?) {
        do {
            var shadow = try load(request.id)
            let id = request.id
            switch request.operation {
            case .get:
                let token = try ShadowRules.clientToken(ofRequest: request.payload).get()
                return (ShadowRules.get(shadow, id: id, clientToken: token, now: now).map { ShadowOutcome(accepted: $0) }, nil)
            case .delete:
                let token = try ShadowRules.clientToken(ofRequest: request.payload).get()
                let result = ShadowRules.delete(&shadow, id: id, clientToken: token, now: now)
                if case .success = result { return (result.map { ShadowOutcome(accepted: $0) }, shadow) }
                return (result.map { ShadowOutcome(accepted: $0) }, nil)
            case .update:
                let result = ShadowRules.update(&shadow, id: id, payload: request.payload, now: now)
                if case .success = result { return (result, shadow) }
                return (result, nil)
            }
        } catch {
            return (.failure(error), nil)
        }
    }

    /// The thing was deleted: so are its shadows, before the next request is served.
    public nonisolated func thingDeleted(_ thingName: String) {
        deletedThings.withLock { _ = $0.insert(thingName) }
    }

    /// Removes the shadows of the things marked deleted; the things whose deletion failed keep the mark
    /// (retried before the next request) and are returned.
    @discardableResult
    public func applyDeletions() -> Set<String> {
        let names = deletedThings.withLock { names in
            defer { names.removeAll() }
            return names
        }
        guard !names.isEmpty else { return [] }
        cache = cache.filter { !names.contains($0.key.thingName) }
        var failed: Set<String> = []
        for name in names {
            do {
                try store.deleteShadows(thingName: name)
            } catch {
                failed.insert(name)
            }
        }
        if !failed.isEmpty { deletedThings.withLock { $0.formUnion(failed) } }
        return failed
    }

    /// The thing was deleted: so are its shadows.
    public func deleteShadows(thingName: String) {
        thingDeleted(thingName)
        applyDeletions()
    }

    /// ListNamedShadowsForThing: names in order, `pageSize` at a time after the token's name.
    public func namedShadows(thingName: String, after token: String?, pageSize: Int) -> Result<(names: [String], next: String?), ShadowError> {
        guard !applyDeletions().contains(thingName) else { return .failure(.internalFailure) }
        guard let names = try? store.namedShadows(thingName: thingName) else { return .failure(.internalFailure) }
        let start = token.flatMap { last in names.firstIndex(where: { $0 > last }) } ?? (token == nil ? 0 : names.count)
        let page = Array(names[start..<min(names.count, start + pageSize)])
        let more = start + page.count < names.count
        return .success((page, more ? page.last : nil))
    }
}
