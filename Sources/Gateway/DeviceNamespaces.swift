import Broker
import NIOConcurrencyHelpers
import NIOCore

/// One (account, region) namespace as devices see it: its broker and the registry snapshot its
/// handshakes are verified against.
public struct DeviceNamespace: Sendable {
    /// What it is called in logs and tests (`account/region`).
    public let name: String
    public let host: BrokerHost
    public let directory: DeviceDirectory

    public init(name: String, host: BrokerHost, directory: DeviceDirectory) {
        self.name = name
        self.host = host
        self.directory = directory
    }
}

/// Which namespace a connection reaches, by the server name it sent (SNI), and every namespace's host
/// for the listeners' timers and shutdown. Namespaces may be made on first use: `resolve` may create
/// one; `created` is told of each new host so the listeners' timer reaches it.
public final class DeviceNamespaces: Sendable {
    public let primary: DeviceNamespace
    private let resolve: @Sendable (_ normalizedServerName: String) -> DeviceNamespace?
    private struct State {
        var hosts: [ObjectIdentifier: BrokerHost] = [:]
        var tickLoops: [any EventLoop] = []
    }
    private let state: NIOLockedValueBox<State>

    /// - Parameter resolve: the namespace a lower-case server name reaches; nil for the primary one.
    public init(primary: DeviceNamespace,
                resolve: @escaping @Sendable (_ normalizedServerName: String) -> DeviceNamespace? = { _ in nil }) {
        self.primary = primary
        self.resolve = resolve
        state = NIOLockedValueBox(State(hosts: [ObjectIdentifier(primary.host): primary.host]))
    }

    /// A single namespace (tests, and a gateway built around one broker).
    public convenience init(host: BrokerHost, directory: DeviceDirectory) {
        self.init(primary: DeviceNamespace(name: "default", host: host, directory: directory))
    }

    /// The namespace for a server name (nil or unknown: the primary one).
    public func namespace(forServerName name: String?) -> DeviceNamespace {
        guard let name, !name.isEmpty else { return primary }
        return resolve(ServerTLSDirectory.normalize(name)) ?? primary
    }

    /// Adds a namespace's host made after the listeners started: its timer starts like the others'.
    public func adopt(_ host: BrokerHost) {
        let loops = state.withLockedValue { state -> [any EventLoop] in
            guard state.hosts.updateValue(host, forKey: ObjectIdentifier(host)) == nil else { return [] }
            return state.tickLoops
        }
        for loop in loops { host.startTicking(on: loop) }
    }

    /// Every host so far.
    public var hosts: [BrokerHost] { state.withLockedValue { Array($0.hosts.values) } }

    /// A listener started: every host ticks (each start is matched by one `stopTicking`).
    func startTicking(on loop: any EventLoop) {
        let hosts = state.withLockedValue { state -> [BrokerHost] in
            state.tickLoops.append(loop)
            return Array(state.hosts.values)
        }
        for host in hosts { host.startTicking(on: loop) }
    }

    func stopTicking() {
        let hosts = state.withLockedValue { state -> [BrokerHost] in
            if !state.tickLoops.isEmpty { state.tickLoops.removeLast() }
            return Array(state.hosts.values)
        }
        for host in hosts { host.stopTicking() }
    }

    /// Disconnects every client of every namespace (server shutting down).
    func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for host in hosts { group.addTask { await host.shutdown() } }
        }
    }
}
