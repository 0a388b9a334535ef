import Foundation
import NIOConcurrencyHelpers
import Registry

/// Keeps the registry's `liveFields` (the shadow and connectivity fields dynamic thing groups' queries
/// name) current, so a thing joins or leaves such a group, and its connections are re-authorized, when
/// its shadow changes or it connects or disconnects.
///
/// Nothing is read while no dynamic group names such a field. Changes only mark a thing; one task at a
/// time reads the marked things' fields as they are then and hands them to the registry, so a burst of
/// updates to one thing costs one read, and a read never overtakes a later change (a change made while
/// a read runs marks the thing again).
final class LiveFleetFields: Sendable {
    private struct State {
        /// The fields dynamic groups name (`RegistryState.liveFieldNames`).
        var names: Set<String> = []
        var dirty: Set<String> = []
        /// Every thing is to be read again (the names changed, or at start).
        var all = false
        var draining = false
        var registry: Registry?
    }

    private let state = NIOLockedValueBox(State())
    /// Reads some things' fields among `names`.
    private let read: @Sendable (_ things: [String], _ names: Set<String>) async -> [String: FleetDocument]
    /// Things read per registry call while every thing is read again.
    static let batchSize = 512

    init(read: @escaping @Sendable (_ things: [String], _ names: Set<String>) async -> [String: FleetDocument]) {
        self.read = read
    }

    /// The registry to update; work marked before this waits for it.
    func attach(_ registry: Registry) {
        let start = state.withLockedValue { state -> Bool in
            state.registry = registry
            return Self.claim(&state)
        }
        if start { Task { await self.drain() } }
    }

    /// The fields dynamic groups name now: when they changed, every thing is read again.
    func wanted(_ names: Set<String>) {
        let start = state.withLockedValue { state -> Bool in
            guard names != state.names else { return false }
            state.names = names
            state.all = true
            state.dirty = []
            return Self.claim(&state)
        }
        if start { Task { await self.drain() } }
    }

    /// A thing's shadow changed, or the client id connected or disconnected.
    func changed(_ thing: String, shadow: Bool) {
        let start = state.withLockedValue { state -> Bool in
            let prefix = shadow ? "shadow." : "connectivity."
            guard state.names.contains(where: { $0.hasPrefix(prefix) }) else { return false }
            if !state.all { state.dirty.insert(thing) }
            return Self.claim(&state)
        }
        if start { Task { await self.drain() } }
    }

    /// Things created or changed in the registry (a thing made after its client id connected).
    func registered(_ things: [String]) {
        let start = state.withLockedValue { state -> Bool in
            guard !state.names.isEmpty, !things.isEmpty else { return false }
            if !state.all { state.dirty.formUnion(things) }
            return Self.claim(&state)
        }
        if start { Task { await self.drain() } }
    }

    /// Whether the caller is to start draining (there is work, a registry, and no drain running).
    private static func claim(_ state: inout State) -> Bool {
        guard !state.draining, state.registry != nil, state.all || !state.dirty.isEmpty else { return false }
        state.draining = true
        return true
    }

    private func drain() async {
        while true {
            let work: (registry: Registry, things: [String], all: Bool, names: Set<String>)? = state.withLockedValue { state in
                guard let registry = state.registry, state.all || !state.dirty.isEmpty else {
                    state.draining = false
                    return nil
                }
                defer {
                    state.all = false
                    state.dirty = []
                }
                return (registry, state.dirty.sorted(), state.all, state.names)
            }
            guard let work else { return }
            if work.names.isEmpty {
                await work.registry.setLiveFields([:], replacingAll: true)
                continue
            }
            // Every thing is rewritten in place (never cleared first), so a thing read late keeps its
            // groups meanwhile.
            let things = work.all ? ((try? await work.registry.read { $0.allThings.map(\.name) }) ?? []) : work.things
            for start in stride(from: 0, to: things.count, by: Self.batchSize) {
                let batch = Array(things[start..<min(things.count, start + Self.batchSize)])
                let found = await read(batch, work.names)
                var updates: [String: FleetDocument?] = [:]
                for thing in batch { updates[thing] = found[thing] }
                await work.registry.setLiveFields(updates)
            }
        }
    }
}
