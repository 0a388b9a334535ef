import Foundation
import Gateway
import Logging
import NIOConcurrencyHelpers
import Registry
import RegistrySQLite

/// When and why each registered thing last disconnected, kept in the store. The broker forgets a
/// client id an hour after it leaves (its memory is bounded by connections, not things); AWS's fleet
/// index keeps a thing's `connectivity.timestamp` and `disconnectReason`, so this does, across restarts
/// too. Only client ids that name a thing are kept, so its size is bounded by the registry.
///
/// A disconnect only marks the client id; one task at a time reads the marked ids' connectivity from the
/// broker and writes them in one transaction, so connection storms cost one write per batch.
final class ConnectivityHistory: Sendable {
    private struct State {
        var known: [String: SQLiteRegistryStore.Disconnect]
        var dirty: Set<String> = []
        var draining = false
    }

    private let state: NIOLockedValueBox<State>
    private let store: SQLiteRegistryStore
    private let host: BrokerHost
    private let directory: DeviceDirectory
    private let logger: Logger

    init(store: SQLiteRegistryStore, host: BrokerHost, directory: DeviceDirectory, logger: Logger) {
        self.store = store
        self.host = host
        self.directory = directory
        self.logger = logger
        var known: [String: SQLiteRegistryStore.Disconnect] = [:]
        do {
            known = try store.loadDisconnects()
        } catch {
            logger.error("could not read the things' last disconnects: \(error)")
        }
        state = NIOLockedValueBox(State(known: known))
    }

    /// The last disconnect the broker no longer knows.
    func lastDisconnect(of thing: String) -> SQLiteRegistryStore.Disconnect? { state.withLockedValue { $0.known[thing] } }

    /// A client id connected or disconnected.
    func changed(_ clientID: String) {
        let start = state.withLockedValue { state -> Bool in
            state.dirty.insert(clientID)
            defer { state.draining = true }
            return !state.draining
        }
        if start { Task { await self.drain() } }
    }

    /// Things deleted from the registry are forgotten.
    func forget(_ things: [String]) {
        guard !things.isEmpty else { return }
        state.withLockedValue { state in for thing in things { state.known[thing] = nil } }
        do {
            try store.saveDisconnects(Dictionary(uniqueKeysWithValues: things.map { ($0, nil) }))
        } catch {
            logger.error("could not forget deleted things' last disconnects: \(error)")
        }
    }

    private func drain() async {
        while true {
            let batch: [String] = state.withLockedValue { state in
                guard !state.dirty.isEmpty else {
                    state.draining = false
                    return []
                }
                defer { state.dirty = [] }
                return Array(state.dirty)
            }
            guard !batch.isEmpty else { return }
            let registry = directory.registryState?.state
            var writes: [String: SQLiteRegistryStore.Disconnect?] = [:]
            for clientID in batch {
                guard let registry, (try? registry.thing(named: clientID)) != nil,
                      let now = host.connectivity(clientID: clientID), !now.connected, let timestamp = now.epochMilliseconds else { continue }
                writes[clientID] = SQLiteRegistryStore.Disconnect(epochMilliseconds: timestamp, reason: now.disconnectReason)
            }
            guard !writes.isEmpty else { continue }
            do {
                try store.saveDisconnects(writes)
                state.withLockedValue { state in for (thing, disconnect) in writes { state.known[thing] = disconnect } }
            } catch {
                logger.error("could not write the things' last disconnects: \(error)")
            }
        }
    }
}
