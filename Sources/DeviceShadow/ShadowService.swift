import Synchronization

/// Where shadows are kept (the registry's SQLite database in the gateway). A store call returns once
/// the change is durable.
public protocol ShadowStore: Sendable {
    func loadShadow(_ id: ShadowID) throws -> Shadow?
    func saveShadow(_ id: ShadowID, _ shadow: Shadow) throws
    /// Removes every shadow of a thing (the thing was deleted).
    func deleteShadows(thingName: String) throws
    /// The names of a thing's named shadows that exist (not deleted), sorted.
    func namedShadows(thingName: String) throws -> [String]
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

/// The shadow service: one request at a time (an actor), so updates to one shadow from MQTT and HTTPS
/// are serialized and none is lost; each change is in the store before its answer exists. Recently
/// used shadows are kept in memory (bounded).
public actor ShadowService {
    private let store: any ShadowStore
    private var cache: [ShadowID: Shadow] = [:]
    public static let cacheCapacity = 10_000

    public init(store: any ShadowStore) {
        self.store = store
    }

    private func load(_ id: ShadowID) throws(ShadowError) -> Shadow {
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
        do {
            var shadow = try load(id)
            switch operation {
            case .get:
                let token = try ShadowRules.clientToken(ofRequest: payload).get()
                return ShadowRules.get(shadow, id: id, clientToken: token, now: now).map { ShadowOutcome(accepted: $0) }
            case .delete:
                let token = try ShadowRules.clientToken(ofRequest: payload).get()
                let result = ShadowRules.delete(&shadow, id: id, clientToken: token, now: now)
                if case .success = result { try save(id, shadow) }
                return result.map { ShadowOutcome(accepted: $0) }
            case .update:
                let result = ShadowRules.update(&shadow, id: id, payload: payload, now: now)
                if case .success = result { try save(id, shadow) }
                return result
            }
        } catch let error as ShadowError {
            return .failure(error)
        } catch {
            return .failure(.internalFailure)
        }
    }

    private func save(_ id: ShadowID, _ shadow: Shadow) throws(ShadowError) {
        do {
            try store.saveShadow(id, shadow)
        } catch {
            cache[id] = nil
            throw ShadowError.internalFailure
        }
        remember(id, shadow)
    }

    /// The thing was deleted: so are its shadows.
    public func deleteShadows(thingName: String) {
        try? store.deleteShadows(thingName: thingName)
        cache = cache.filter { $0.key.thingName != thingName }
    }

    /// ListNamedShadowsForThing: names in order, `pageSize` at a time after the token's name.
    public func namedShadows(thingName: String, after token: String?, pageSize: Int) -> Result<(names: [String], next: String?), ShadowError> {
        guard let names = try? store.namedShadows(thingName: thingName) else { return .failure(.internalFailure) }
        let start = token.flatMap { last in names.firstIndex(where: { $0 > last }) } ?? (token == nil ? 0 : names.count)
        let page = Array(names[start..<min(names.count, start + pageSize)])
        let more = start + page.count < names.count
        return .success((page, more ? page.last : nil))
    }
}
