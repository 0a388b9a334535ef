import Broker
import DeviceIdentity
import Foundation
import Gateway
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import PortcullisServer
import Registry

/// The real server, in process, on 127.0.0.1 port 0 with a temporary data folder. It stops itself at
/// the end of `withLiveServer` and collects every IoT log entry for assertions.
public final class LiveServer: Sendable {
    public let server: PortcullisServer
    public let port: Int
    public let events: CollectingEventSink
    public let pki: TestPKI
    public let dataDirectory: String

    /// Runs `body` with a started server, then stops it and removes its data folder.
    public static func with<T>(
        configure: (inout PortcullisConfiguration) -> Void = { _ in },
        _ body: (LiveServer) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-test-\(UUID().uuidString)").path
        var configuration = PortcullisConfiguration()
        configuration.dataDirectory = directory
        configuration.mqttListen = ["127.0.0.1:0"]
        configuration.logLevel = .debug
        // The connect timeout runs from accept to the end of the certificate check, which is a task that
        // may wait its turn on a loaded 2-core machine; a test is never about that deadline unless it sets
        // one in `configure`.
        configuration.limits.connectTimeout = 300
        configure(&configuration)
        let events = CollectingEventSink()
        var logger = Logger(label: "portcullis-test")
        logger.logLevel = .warning
        let server = try PortcullisServer(configuration: configuration, logger: logger, eventSink: events)
        let addresses = try await server.start()
        let live = LiveServer(server: server, port: addresses[0].port ?? 0, events: events,
                              pki: TestPKI(authority: server.preparation.certificateAuthority), dataDirectory: directory)
        do {
            let result = try await body(live)
            try await server.stop()
            try? FileManager.default.removeItem(atPath: directory)
            return result
        } catch {
            try? await server.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private init(server: PortcullisServer, port: Int, events: CollectingEventSink, pki: TestPKI, dataDirectory: String) {
        self.server = server
        self.port = port
        self.events = events
        self.pki = pki
        self.dataDirectory = dataDirectory
    }

    public var caPEM: String { pki.authority.certificatePEM }

    /// A client with a fresh device certificate from the server's CA (or the given credential),
    /// registered ACTIVE first unless `register` is false (the gateway admits registered certificates only),
    /// with `policy` attached (by default one that allows everything; nil: none).
    public func client(_ name: String, version: ProtocolVersion = .v5, credential: IssuedCredential? = nil,
                       register: Bool = true, policy: String? = LiveServer.allowAllPolicy) async throws -> MQTTTestClient {
        let credential = try credential ?? pki.device(name)
        if register { try await self.register(credential, policy: policy) }
        return try await MQTTTestClient.open(port: port, caPEM: caPEM, credential: credential, version: version)
    }

    /// The policy tests attach unless they say otherwise: `iot:*` on everything.
    public static let allowAllPolicy = "test-allow-all"
    static let allowAllDocument = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#

    /// Registers a certificate signed by the server's CA (RegisterCertificate), ACTIVE unless told otherwise,
    /// and attaches `policy` (created first if it is `allowAllPolicy`). Registering one twice is not an error here.
    public func register(_ credential: IssuedCredential, status: String = "ACTIVE", policy: String? = LiveServer.allowAllPolicy) async throws {
        try await Self.register(credential, status: status, policy: policy, in: server)
    }

    public static func register(_ credential: IssuedCredential, status: String = "ACTIVE", policy: String? = LiveServer.allowAllPolicy,
                                in server: PortcullisServer) async throws {
        let pem = credential.certificatePEM
        let id = credential.certificateID
        let now = Date().timeIntervalSince1970
        let result: Result<Void, RegistryError> = try await server.registry.perform { state in
            Result { () throws(RegistryError) in
                do throws(RegistryError) {
                    _ = try state.registerCertificate(pem: pem, caPEM: nil, status: status, setAsActive: nil, now: now)
                } catch {
                    guard error.code == .resourceAlreadyExists else { throw error }
                }
                guard let policy else { return }
                if policy == allowAllPolicy, (try? state.policy(named: policy)) == nil {
                    _ = try state.createPolicy(name: policy, document: allowAllDocument, now: now)
                }
                try state.attachPolicy(name: policy, target: state.arns.certificate(id))
            }
        }
        try result.get()
    }

    /// Replaces the default version of a policy (creating the policy if needed), as CreatePolicyVersion
    /// with setAsDefault does; the oldest non-default version goes when five exist.
    public func setPolicy(_ name: String, document: String) async throws {
        let now = Date().timeIntervalSince1970
        try await server.registry.perform { state throws(RegistryError) in
            if let existing = try? state.policy(named: name) {
                if existing.versions.count >= PolicyRules.maximumVersions,
                   let oldest = existing.versions.first(where: { $0.versionID != existing.defaultVersionID }) {
                    try state.deletePolicyVersion(name: name, versionID: oldest.versionID)
                }
                _ = try state.createPolicyVersion(name: name, document: document, setAsDefault: true, now: now)
            } else {
                _ = try state.createPolicy(name: name, document: document, now: now)
            }
        }
    }

    /// Attaches a policy to a certificate (AttachPolicy) or detaches it.
    public func attach(_ policy: String, to credential: IssuedCredential, detach: Bool = false) async throws {
        let id = credential.certificateID
        try await server.registry.perform { state throws(RegistryError) in
            let target = state.arns.certificate(id)
            if detach { try state.detachPolicy(name: policy, target: target) } else { try state.attachPolicy(name: policy, target: target) }
        }
    }

    /// Changes a registered certificate's status (UpdateCertificate).
    public func setStatus(_ status: String, of credential: IssuedCredential) async throws {
        let id = credential.certificateID
        let now = Date().timeIntervalSince1970
        try await server.registry.perform { state throws(RegistryError) in try state.updateCertificate(id: id, newStatus: status, now: now) }
    }

    /// A connected client (CONNACK success checked by the caller through the returned CONNACK).
    public func connectedClient(_ clientID: String, version: ProtocolVersion = .v5, cleanStart: Bool = true,
                                will: Will? = nil, properties: MQTTProperties = .none) async throws -> (MQTTTestClient, ConnAckPacket) {
        let client = try await client(clientID, version: version)
        let connack = try await client.connect(clientID: clientID, cleanStart: cleanStart, will: will, properties: properties)
        return (client, connack)
    }
}

/// An `IoTEventSink` that keeps every entry, for assertions, and wakes tests waiting for one.
public final class CollectingEventSink: IoTEventSink {
    private struct Waiter {
        let predicate: @Sendable (IoTLogEvent) -> Bool
        let continuation: CheckedContinuation<IoTLogEvent?, Never>
    }

    private struct State {
        var entries: [IoTLogEvent] = []
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    public init() {}

    public func record(_ event: IoTLogEvent) {
        let woken = state.withLockedValue { state -> [CheckedContinuation<IoTLogEvent?, Never>] in
            state.entries.append(event)
            let matching = state.waiters.filter { $0.value.predicate(event) }
            for key in matching.keys { state.waiters[key] = nil }
            return matching.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: event) }
    }

    public var all: [IoTLogEvent] { state.withLockedValue { $0.entries } }

    /// The first entry matching `predicate`, recorded already or within `timeout`; nil if none comes.
    public func waitFor(timeout: Duration = .seconds(60), _ predicate: @escaping @Sendable (IoTLogEvent) -> Bool) async -> IoTLogEvent? {
        await withTaskGroup(of: IoTLogEvent?.self) { group in
            let key = state.withLockedValue { state -> UInt64 in
                state.nextWaiter += 1
                return state.nextWaiter
            }
            group.addTask {
                await withCheckedContinuation { continuation in
                    let existing = self.state.withLockedValue { state -> IoTLogEvent? in
                        if let match = state.entries.first(where: predicate) { return match }
                        state.waiters[key] = Waiter(predicate: predicate, continuation: continuation)
                        return nil
                    }
                    if let existing { continuation.resume(returning: existing) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLockedValue { $0.waiters.removeValue(forKey: key) }
                waiter?.continuation.resume(returning: nil)
                return nil
            }
            let first = await group.next() ?? nil
            // Wakes the timeout task early; it then finds no waiter left to resume.
            group.cancelAll()
            return first
        }
    }
}
