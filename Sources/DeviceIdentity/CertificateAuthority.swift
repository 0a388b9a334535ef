#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
import X509

/// A certificate authority that Portcullis holds the key for: the local root that signs the server's
/// TLS certificate and the device certificates made by `CreateKeysAndCertificate`.
///
/// Everything here is pure: keys, certificates and PEM text go in and out, and the caller decides
/// where they are stored. Every issuing call takes `notBefore` explicitly, so tests use a fixed
/// reference time and production passes the current time (minus a little slack for device clocks
/// that run behind, if it wishes).
public struct CertificateAuthority: Sendable, Hashable {
    /// The CA certificate.
    public let certificate: Certificate

    /// The CA's signing key.
    public let privateKey: Certificate.PrivateKey

    /// ``certificate`` as a PEM `CERTIFICATE` block, ending with a newline. This is what devices and
    /// clients are given as their trust anchor (AWS's "root CA" file).
    public let certificatePEM: String

    /// ``privateKey`` as an unencrypted PKCS#8 `PRIVATE KEY` block, ending with a newline.
    /// Store it with owner-only permissions.
    public let privateKeyPEM: String

    /// The AWS certificate id of ``certificate``, used when the CA is registered.
    public let certificateID: String

    /// Ten years: long enough that a local CA outlives the devices it signs in a test or home
    /// deployment, short enough to stay within what TLS libraries accept for a root.
    public static let defaultRootValidity: TimeInterval = 10 * 365 * 24 * 60 * 60

    /// Wraps an existing CA certificate and its key.
    ///
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/privateKeyMismatch`` if the
    ///   key does not belong to the certificate, ``DeviceIdentityError/Code/notACertificateAuthority``
    ///   if the certificate's basic constraints or key usage forbid signing certificates.
    public init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        guard privateKey.publicKey == certificate.publicKey else {
            throw DeviceIdentityError(
                code: .privateKeyMismatch,
                reason: "the private key does not match the public key of CA certificate '\(certificate.subject)'"
            )
        }
        try Self.checkIsCertificateAuthority(certificate)
        self.certificate = certificate
        self.privateKey = privateKey
        self.certificatePEM = try PEM.encode(certificate)
        self.privateKeyPEM = try PEM.encodePrivateKey(privateKey)
        self.certificateID = try CertificateID.compute(certificate)
    }

    /// Loads a CA from PEM text, such as the files written from ``certificatePEM`` and ``privateKeyPEM``.
    ///
    /// The certificate text must hold exactly one certificate: a bundle would leave it unclear which
    /// certificate the key belongs to.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        try self.init(
            certificate: PEM.parseCertificate(pem: certificatePEM),
            privateKey: PEM.parsePrivateKey(pem: privateKeyPEM)
        )
    }

    /// Creates a new self-signed root CA with a fresh P-256 key.
    ///
    /// The root may sign end-entity certificates only (path length 0): Portcullis never issues
    /// intermediates, and forbidding them limits what a stolen leaf-signing key could build.
    ///
    /// - Parameters:
    ///   - commonName: The subject CN, shown by tools that list trust anchors.
    ///   - organization: The subject O, or `nil` to omit it.
    ///   - notBefore: Start of validity; pass `Date()` in production and a fixed time in tests.
    ///   - validity: Lifetime in seconds.
    public static func makeRoot(
        commonName: String = "Portcullis Local Root CA",
        organization: String? = "Portcullis",
        notBefore: Date,
        validity: TimeInterval = defaultRootValidity
    ) throws -> CertificateAuthority {
        let key = try KeyAlgorithm.p256.makePrivateKey()
        let name = try Self.distinguishedName(commonName: commonName, organization: organization)
        let certificate = try Self.buildCertificate {
            try Certificate(
                version: .v3,
                serialNumber: Self.makeSerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: notBefore,
                notValidAfter: try Self.notAfter(notBefore, validity),
                issuer: name,
                subject: name,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: key.publicKey)
                },
                issuerPrivateKey: key
            )
        }
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Issues the TLS server certificate for the gateway's listeners.
    ///
    /// Clients verify the host they dialled against the subject alternative names, so every DNS name
    /// and IP address the server is reached by must be listed; the common name is informational.
    ///
    /// - Parameters:
    ///   - dnsNames: Host names, such as `localhost` or `iot.example.internal`.
    ///   - ipAddresses: IPv4 (`127.0.0.1`) or IPv6 (`::1`) addresses in textual form.
    ///   - commonName: The subject CN.
    ///   - notBefore: Start of validity.
    ///   - validity: Lifetime in seconds.
    ///   - keyAlgorithm: P-256 unless stated; RSA-2048 for the chain served to clients that offer only
    ///     RSA cipher suites or signatures.
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/invalidIPAddress`` or
    ///   ``DeviceIdentityError/Code/invalidSubjectAlternativeName`` for bad names.
    public func issueServerCertificate(
        dnsNames: [String],
        ipAddresses: [String] = [],
        commonName: String,
        notBefore: Date,
        validity: TimeInterval,
        keyAlgorithm: KeyAlgorithm = .p256
    ) throws -> IssuedCredential {
        let names = try Self.subjectAlternativeNames(dnsNames: dnsNames, ipAddresses: ipAddresses)
        let key = try keyAlgorithm.makePrivateKey()
        let certificate = try self.issue(
            subject: try Self.distinguishedName(commonName: commonName, organization: nil),
            publicKey: key.publicKey,
            notBefore: notBefore,
            validity: validity,
            usage: .serverAuth,
            subjectAlternativeNames: names,
            keyEncipherment: keyAlgorithm == .rsa2048
        )
        return try IssuedCredential(certificate: certificate, privateKey: key)
    }

    /// Issues a device (MQTT client) certificate with a new or given key.
    ///
    /// - Parameters:
    ///   - commonName: The subject CN; by convention the thing name, though AWS does not require it.
    ///   - organization: The subject O, or `nil` to omit it.
    ///   - notBefore: Start of validity.
    ///   - validity: Lifetime in seconds.
    ///   - key: Where the key pair comes from; a fresh P-256 key unless stated. Tests pass
    ///     `.existing(_:)` to avoid generating keys, and `.generate(.rsa2048)` mimics AWS.
    public func issueClientCertificate(
        commonName: String,
        organization: String? = nil,
        notBefore: Date,
        validity: TimeInterval,
        key: SubjectKey = .generate(.p256)
    ) throws -> IssuedCredential {
        let privateKey = try key.resolve()
        let certificate = try self.issue(
            subject: try Self.distinguishedName(commonName: commonName, organization: organization),
            publicKey: privateKey.publicKey,
            notBefore: notBefore,
            validity: validity,
            usage: .clientAuth,
            subjectAlternativeNames: nil
        )
        return try IssuedCredential(certificate: certificate, privateKey: privateKey)
    }

    /// Issues a device certificate for the key in a certificate signing request, as
    /// `CreateCertificateFromCsr` does. The device keeps its private key; only the certificate is returned.
    ///
    /// The subject is copied from the request. Requested extensions are ignored: the CA, not the
    /// requester, decides what the certificate may be used for.
    ///
    /// - Throws: ``DeviceIdentityError`` with code ``DeviceIdentityError/Code/invalidCSRSignature`` if the
    ///   request is not signed by the key it carries (the requester must prove possession).
    public func issueClientCertificate(
        for request: CertificateSigningRequest,
        notBefore: Date,
        validity: TimeInterval
    ) throws -> Certificate {
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw DeviceIdentityError(
                code: .invalidCSRSignature,
                reason: "the certificate signing request for '\(request.subject)' is not signed by its own key"
            )
        }
        return try self.issue(
            subject: request.subject,
            publicKey: request.publicKey,
            notBefore: notBefore,
            validity: validity,
            usage: .clientAuth,
            subjectAlternativeNames: nil
        )
    }

    /// Builds and signs an end-entity certificate.
    private func issue(
        subject: DistinguishedName,
        publicKey: Certificate.PublicKey,
        notBefore: Date,
        validity: TimeInterval,
        usage: ExtendedKeyUsage.Usage,
        subjectAlternativeNames: SubjectAlternativeNames?,
        keyEncipherment: Bool = false
    ) throws -> Certificate {
        let authorityKeyIdentifier = try self.authorityKeyIdentifier()
        let notAfter = try Self.notAfter(notBefore, validity)
        return try Self.buildCertificate {
            try Certificate(
                version: .v3,
                serialNumber: Self.makeSerialNumber(),
                publicKey: publicKey,
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: self.certificate.subject,
                subject: subject,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    // RSA key exchange (TLS_RSA_* suites) encrypts the premaster secret to the key.
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: keyEncipherment))
                    try ExtendedKeyUsage([usage])
                    SubjectKeyIdentifier(hash: publicKey)
                    authorityKeyIdentifier
                    if let subjectAlternativeNames {
                        subjectAlternativeNames
                    }
                },
                issuerPrivateKey: self.privateKey
            )
        }
    }

    /// Links issued certificates to this CA by key, reusing the CA's own subject key identifier so the
    /// two always agree, and hashing the key only for CAs made elsewhere without one.
    private func authorityKeyIdentifier() throws -> AuthorityKeyIdentifier {
        let subjectKeyIdentifier =
            (try? self.certificate.extensions.subjectKeyIdentifier)
            ?? SubjectKeyIdentifier(hash: self.certificate.publicKey)
        return AuthorityKeyIdentifier(keyIdentifier: subjectKeyIdentifier.keyIdentifier)
    }
}

extension CertificateAuthority: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "CertificateAuthority(subject: \(self.certificate.subject), certificateID: \(self.certificateID))"
    }

    /// Keeps the signing key out of `dump` and debugger summaries.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["certificate": self.certificate, "certificateID": self.certificateID, "privateKey": "<redacted>"]
        )
    }
}
