import DeviceIdentity
import NIOConcurrencyHelpers

/// What the TLS verification callback learned about the peer, handed to the connection handler once
/// the handshake completes. Written once from the verifier's task, read on the event loop.
final class PeerIdentityBox: Sendable {
    private struct State {
        var certificateID: String?
        var rejection: ClientRejection?
    }

    private let state = NIOLockedValueBox(State())

    var certificateID: String? { state.withLockedValue { $0.certificateID } }
    var rejection: ClientRejection? { state.withLockedValue { $0.rejection } }

    func trusted(_ certificateID: String) { state.withLockedValue { $0.certificateID = certificateID } }
    func rejected(_ rejection: ClientRejection) { state.withLockedValue { $0.rejection = rejection } }
}
