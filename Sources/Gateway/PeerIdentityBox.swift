import DeviceIdentity
import NIOConcurrencyHelpers

/// What the TLS verification callback learned about the peer, handed to the connection handler once
/// the handshake completes. Written once from the verifier's task, read on the event loop.
final class PeerIdentityBox: Sendable {
    private struct State {
        var certificateID: String?
        var rejection: ClientRejection?
        var serverName: String?
        var namespace: DeviceNamespace?
    }

    private let state = NIOLockedValueBox(State())

    var certificateID: String? { state.withLockedValue { $0.certificateID } }
    /// The SNI host name of the Client Hello, read before the handshake runs.
    var serverName: String? {
        get { state.withLockedValue { $0.serverName } }
        set { state.withLockedValue { $0.serverName = newValue } }
    }
    var rejection: ClientRejection? { state.withLockedValue { $0.rejection } }
    /// The namespace the server name reached, set with it (nil until then: the listener's default).
    var namespace: DeviceNamespace? {
        get { state.withLockedValue { $0.namespace } }
        set { state.withLockedValue { $0.namespace = newValue } }
    }

    func trusted(_ certificateID: String) { state.withLockedValue { $0.certificateID = certificateID } }
    func rejected(_ rejection: ClientRejection) { state.withLockedValue { $0.rejection = rejection } }
}
