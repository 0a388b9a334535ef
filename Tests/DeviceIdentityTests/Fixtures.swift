import Foundation
import X509

@testable import DeviceIdentity

/// Shared inputs for the DeviceIdentity tests. Every certificate is made in the test from a fixed
/// reference time, so nothing checked in can expire.
enum Fixtures {
    /// 2026-01-01T00:00:00Z.
    static let referenceTime = Date(timeIntervalSince1970: 1_767_225_600)

    static let oneDay: TimeInterval = 24 * 60 * 60
    static let oneYear: TimeInterval = 365 * oneDay

    static func makeRoot(commonName: String = "Portcullis Local Root CA") throws -> CertificateAuthority {
        try CertificateAuthority.makeRoot(commonName: commonName, notBefore: referenceTime)
    }

    static func makeClient(
        from authority: CertificateAuthority,
        commonName: String = "device-1",
        notBefore: Date = referenceTime,
        validity: TimeInterval = oneYear
    ) throws -> IssuedCredential {
        try authority.issueClientCertificate(commonName: commonName, notBefore: notBefore, validity: validity)
    }

    /// A root like one a customer brings along: no path length limit, so it can have intermediates
    /// (the Portcullis root cannot).
    static func makeExternalRoot(commonName: String = "Customer Root CA") throws -> CertificateAuthority {
        let key = try KeyAlgorithm.p256.makePrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: referenceTime,
            notValidAfter: referenceTime.addingTimeInterval(10 * oneYear),
            issuer: name,
            subject: name,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key
        )
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// An intermediate CA signed by `parent`. The public API deliberately cannot issue intermediates, so the
    /// tests build one directly with swift-certificates.
    static func makeIntermediate(
        from parent: CertificateAuthority,
        commonName: String = "Portcullis Test Intermediate CA",
        notBefore: Date = referenceTime,
        validity: TimeInterval = oneYear
    ) throws -> CertificateAuthority {
        let key = try KeyAlgorithm.p256.makePrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: notBefore,
            notValidAfter: notBefore.addingTimeInterval(validity),
            issuer: parent.certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) },
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: parent.privateKey
        )
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }
}
