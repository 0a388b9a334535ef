import DeviceIdentity
import Foundation
import NIOConcurrencyHelpers
import Registry
import X509

/// The gateway's view of the registry: the latest `DeviceTrust` snapshot, swapped in after every
/// registry change, and what to do when a device's certificate should register itself (auto-registration).
/// Handshakes read the snapshot they start with; no database call happens on an event loop.
public final class DeviceDirectory: Sendable {
    private struct State {
        var trust: DeviceTrust?
        var registry: (state: RegistryState, index: AuthorizationIndex)?
        /// Counts updates: an authorization made from an older generation may be stale.
        var generation: UInt64 = 0
        var parsedCAs: [String: Certificate] = [:]
        var leafKeys: [String: DeviceTrust.LeafKey] = [:]
        var listeners: [@Sendable (_ identitiesChanged: Bool) -> Void] = []
        var registrar: (@Sendable (PendingCertificate) -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Takes a new snapshot of `registryState`, then tells every listener (outside the lock).
    /// - Parameter identities: whether certificates or CAs changed (the trust snapshot is rebuilt only then).
    public func update(from registryState: RegistryState, identities: Bool = true) {
        let index = AuthorizationIndex(registryState)
        let listeners = state.withLockedValue { state in
            if identities || state.trust == nil {
                state.trust = DeviceTrust(state: registryState, parsedCAs: &state.parsedCAs, leafKeys: &state.leafKeys)
            }
            state.registry = (registryState, index)
            state.generation += 1
            return state.listeners
        }
        for listener in listeners { listener(identities) }
    }

    /// Called after every update, told whether certificates or CAs changed (the gateway then closes
    /// connections that are no longer admitted) or only what authorizations are made from.
    public func onUpdate(_ listener: @escaping @Sendable (_ identitiesChanged: Bool) -> Void) {
        state.withLockedValue { $0.listeners.append(listener) }
    }

    /// A certificate presented while PENDING_ACTIVATION under an auto-registering CA.
    public struct PendingCertificate: Sendable {
        public var certificateID: String
        public var caCertificateID: String
        /// Set when the certificate is not registered yet: register it PENDING_ACTIVATION first.
        public var register: ParsedCertificate?
    }

    /// Who registers a certificate PENDING_ACTIVATION under a CA with auto-registration (the registry)
    /// and announces it.
    public func setRegistrar(_ registrar: @escaping @Sendable (PendingCertificate) -> Void) {
        state.withLockedValue { $0.registrar = registrar }
    }

    public var current: DeviceTrust? { state.withLockedValue { $0.trust } }

    /// The registry as of the last update: what policies, things and groups authorizations are made from.
    public var registryState: (state: RegistryState, index: AuthorizationIndex)? { state.withLockedValue { $0.registry } }

    /// The registry snapshot with its generation, read together.
    var registrySnapshot: (registry: (state: RegistryState, index: AuthorizationIndex)?, generation: UInt64) {
        state.withLockedValue { ($0.registry, $0.generation) }
    }

    var generation: UInt64 { state.withLockedValue { $0.generation } }

    /// Whether a connection authenticated by this certificate may be (or stay) connected.
    public func admits(_ certificateID: String) -> Bool { current?.allowsConnection(certificateID: certificateID) ?? false }

    /// The certificate id of an acceptable chain, or why it is refused.
    func authenticate(derChain: [[UInt8]], at time: Date) async -> Result<String, ClientRejection> {
        guard let trust = current else {
            return .failure(ClientRejection(code: .other, reason: "the registry is not loaded yet"))
        }
        switch await trust.authenticate(derChain: derChain, at: time) {
        case .accepted(let id):
            return .success(id)
        case .rejected(let rejection):
            return .failure(rejection)
        case .pendingActivation(let id, let caID, let certificate, let rejection):
            state.withLockedValue { $0.registrar }?(PendingCertificate(certificateID: id, caCertificateID: caID, register: certificate))
            return .failure(rejection)
        }
    }
}
