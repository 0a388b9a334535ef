import X509

/// The outcome of checking the certificate chain a device presented.
///
/// A value rather than a thrown error: rejecting a device is routine, and the caller (the TLS
/// callback) needs the reason to log and the certificate id to look the device up either way.
public enum ClientVerification: Sendable, Hashable {
    /// The chain leads to a trust root and the leaf may be used for client authentication.
    ///
    /// - Parameters:
    ///   - leaf: The device certificate.
    ///   - chain: The validated chain, leaf first and trust root last.
    ///   - certificateID: The AWS certificate id of `leaf`, the key for registry look-ups.
    case trusted(leaf: Certificate, chain: [Certificate], certificateID: String)

    /// The chain must not be accepted.
    case rejected(ClientRejection)

    /// Whether the chain was trusted; handy in tests and metrics.
    public var isTrusted: Bool {
        if case .trusted = self { return true }
        return false
    }

    /// The rejection, if the chain was rejected.
    public var rejection: ClientRejection? {
        if case .rejected(let rejection) = self { return rejection }
        return nil
    }
}
