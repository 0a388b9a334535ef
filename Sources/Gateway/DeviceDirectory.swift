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
        var parsedCAs: [String: Certificate] = [:]
        var listeners: [@Sendable () -> Void] = []
        var registrar: (@Sendable (ParsedCertificate, String) -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Takes a new snapshot of `registryState`, then tells every listener (outside the lock).
    public func update(from registryState: RegistryState) {
        let listeners = state.withLockedValue { state in
            state.trust = DeviceTrust(state: registryState, parsedCAs: &state.parsedCAs)
            return state.listeners
        }
        for listener in listeners { listener() }
    }

    /// Called after every update (the gateway closes connections that are no longer admitted).
    public func onUpdate(_ listener: @escaping @Sendable () -> Void) { state.withLockedValue { $0.listeners.append(listener) } }

    /// Who registers a certificate PENDING_ACTIVATION under a CA with auto-registration (the registry).
    public func setRegistrar(_ registrar: @escaping @Sendable (ParsedCertificate, String) -> Void) {
        state.withLockedValue { $0.registrar = registrar }
    }

    public var current: DeviceTrust? { state.withLockedValue { $0.trust } }

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
        case .registerPending(let certificate, let caID, let rejection):
            state.withLockedValue { $0.registrar }?(certificate, caID)
            return .failure(rejection)
        }
    }
}
