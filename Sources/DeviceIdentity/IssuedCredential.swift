import X509

/// A newly issued certificate together with its private key, in the forms callers need.
///
/// The PEM strings and the certificate id are computed once, when the credential is made, so that
/// reading them cannot fail and a credential that exists is known to be encodable. The private key
/// never appears in `description` or `dump`, so a credential logged by mistake does not leak it.
public struct IssuedCredential: Sendable, Hashable {
    /// The issued certificate.
    public let certificate: Certificate

    /// The private key matching ``certificate``'s public key.
    public let privateKey: Certificate.PrivateKey

    /// ``certificate`` as a PEM `CERTIFICATE` block, ending with a newline.
    public let certificatePEM: String

    /// ``privateKey`` as an unencrypted PKCS#8 `PRIVATE KEY` block, ending with a newline.
    ///
    /// PKCS#8 regardless of key type, matching what AWS IoT returns from `CreateKeysAndCertificate`.
    public let privateKeyPEM: String

    /// The AWS certificate id of ``certificate`` (lowercase hex SHA-256 of its DER).
    public let certificateID: String

    /// Pairs a certificate with its private key.
    ///
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/privateKeyMismatch`` when
    ///   the key does not belong to the certificate, or an encoding error.
    public init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        guard privateKey.publicKey == certificate.publicKey else {
            throw DeviceIdentityError(
                code: .privateKeyMismatch,
                reason: "the private key does not match the public key of certificate '\(certificate.subject)'"
            )
        }
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificatePEM = try PEM.encode(certificate)
        self.privateKeyPEM = try PEM.encodePrivateKey(privateKey)
        self.certificateID = try CertificateID.compute(certificate)
    }

    /// Loads a credential from PEM text, for example files written earlier from ``certificatePEM`` and
    /// ``privateKeyPEM``.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        try self.init(
            certificate: PEM.parseCertificate(pem: certificatePEM),
            privateKey: PEM.parsePrivateKey(pem: privateKeyPEM)
        )
    }
}

extension IssuedCredential: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "IssuedCredential(subject: \(self.certificate.subject), certificateID: \(self.certificateID))"
    }

    /// Keeps the private key out of `dump` and debugger summaries.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["certificate": self.certificate, "certificateID": self.certificateID, "privateKey": "<redacted>"]
        )
    }
}
