/// An error thrown by the DeviceIdentity module when an operation cannot be carried out.
///
/// Modelled on swift-certificates' `CertificateError`: callers branch on ``code`` (which can grow
/// without breaking them), while ``reason`` carries the detail for logs and operators. Equality and
/// hashing consider only ``code``, so tests can compare against a code without matching prose.
///
/// Verification of a client certificate never throws this error: a rejected chain is an expected
/// outcome and is reported as a ``ClientVerification`` value.
public struct DeviceIdentityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure occurred.
    public var code: Code

    /// A human-readable explanation, safe to show to the operator who supplied the input.
    public var reason: String

    /// Creates an error with a code and a reason.
    public init(code: Code, reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String {
        "DeviceIdentityError.\(self.code): \(self.reason)"
    }

    public static func == (lhs: DeviceIdentityError, rhs: DeviceIdentityError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }
}

extension DeviceIdentityError {
    /// The kind of a ``DeviceIdentityError``.
    ///
    /// A struct with static members rather than an enum, so that adding a code later does not
    /// break callers that switch over codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { self.name }

        /// The text is not PEM, holds no block of the expected type, or holds blocks of another type.
        public static let invalidPEM = Code("invalidPEM")

        /// The bytes inside a PEM block are not a well-formed X.509 certificate or CSR.
        public static let invalidCertificate = Code("invalidCertificate")

        /// The private key could not be read, or is of a type this module cannot use
        /// (for example an encrypted PKCS#8 key).
        public static let unsupportedPrivateKey = Code("unsupportedPrivateKey")

        /// A certificate's or CSR's key is an RSA key shorter than AWS IoT allows (2048 bits).
        public static let weakKey = Code("weakKey")

        /// The private key does not belong to the certificate it was paired with.
        public static let privateKeyMismatch = Code("privateKeyMismatch")

        /// A certificate offered as a certificate authority may not issue certificates.
        public static let notACertificateAuthority = Code("notACertificateAuthority")

        /// A textual IP address could not be parsed as IPv4 or IPv6.
        public static let invalidIPAddress = Code("invalidIPAddress")

        /// A subject alternative name is empty or malformed, or a server certificate has none.
        public static let invalidSubjectAlternativeName = Code("invalidSubjectAlternativeName")

        /// The requested validity period is not a positive, finite duration.
        public static let invalidValidity = Code("invalidValidity")

        /// A certificate signing request is not signed by the key it carries.
        public static let invalidCSRSignature = Code("invalidCSRSignature")

        /// Building, signing or encoding a certificate or key failed inside the X.509 or crypto layer.
        public static let encodingFailed = Code("encodingFailed")

        /// A certificate revocation list is not valid DER or PEM, too large, or of an unsupported version.
        public static let invalidRevocationList = Code("invalidRevocationList")
    }
}
