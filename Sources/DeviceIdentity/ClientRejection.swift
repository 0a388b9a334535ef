/// Why a device's certificate chain was rejected.
///
/// ``code`` is for machines (metrics, lifecycle events, tests); ``reason`` is for the operator's log.
/// Neither is sent to the device: the TLS handshake simply fails, as it does with AWS IoT.
public struct ClientRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure.
    public var code: Code

    /// A human-readable explanation naming the certificate involved.
    public var reason: String

    /// Creates a rejection.
    public init(code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String {
        "\(self.code): \(self.reason)"
    }
}

extension ClientRejection {
    /// The class of a ``ClientRejection``.
    ///
    /// A struct with static members so that new codes do not break callers that switch over them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { self.name }

        /// The peer presented no certificate at all.
        public static let noCertificate = Code("noCertificate")

        /// A presented certificate is not well-formed X.509.
        public static let malformedCertificate = Code("malformedCertificate")

        /// A presented certificate carries an RSA key shorter than 2048 bits (AWS IoT's minimum).
        public static let weakKey = Code("weakKey")

        /// No chain from the leaf leads to a registered CA with valid signatures.
        public static let untrustedIssuer = Code("untrustedIssuer")

        /// The leaf, or a certificate in its chain, is past its notAfter time.
        public static let expired = Code("expired")

        /// The leaf, or a certificate in its chain, is before its notBefore time.
        public static let notYetValid = Code("notYetValid")

        /// The leaf's key usage or extended key usage does not permit TLS client authentication.
        public static let badUsage = Code("badUsage")

        /// A certificate carries a critical extension this verifier does not understand, which
        /// RFC 5280 requires us to refuse.
        public static let unsupportedCriticalExtension = Code("unsupportedCriticalExtension")

        /// The certificate is valid but not in the registry.
        public static let notRegistered = Code("notRegistered")

        /// The certificate is registered but not ACTIVE (INACTIVE, REVOKED, PENDING_ACTIVATION, ...).
        public static let notActive = Code("notActive")

        /// The registered CA the certificate was registered under is not ACTIVE.
        public static let caNotActive = Code("caNotActive")

        /// The certificate's serial is on its CA's certificate revocation list.
        public static let revokedByCRL = Code("revokedByCRL")

        /// The TLS server name is not served: a disabled domain configuration, or strict SNI.
        public static let domainNotServed = Code("domainNotServed")

        /// Any other policy failure, such as a broken path length or name constraint.
        public static let other = Code("other")
    }
}
