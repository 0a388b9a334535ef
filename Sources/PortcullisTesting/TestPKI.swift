import DeviceIdentity
import Foundation
import X509

/// Certificates made in the test, never checked in: a CA, and device credentials valid around now
/// (live TLS verifies at the real time) or deliberately expired or not yet valid.
public struct TestPKI: Sendable {
    public let authority: CertificateAuthority

    public init(commonName: String = "Test Root CA") throws {
        authority = try CertificateAuthority.makeRoot(commonName: commonName, notBefore: Date().addingTimeInterval(-86_400))
    }

    public init(authority: CertificateAuthority) {
        self.authority = authority
    }

    /// A device credential valid from an hour ago for a day.
    public func device(_ name: String) throws -> IssuedCredential {
        try authority.issueClientCertificate(commonName: name, notBefore: Date().addingTimeInterval(-3600), validity: 86_400)
    }

    /// A device credential whose validity ended yesterday.
    public func expiredDevice(_ name: String) throws -> IssuedCredential {
        try authority.issueClientCertificate(commonName: name, notBefore: Date().addingTimeInterval(-3 * 86_400), validity: 86_400)
    }

    /// A device credential valid only from tomorrow.
    public func futureDevice(_ name: String) throws -> IssuedCredential {
        try authority.issueClientCertificate(commonName: name, notBefore: Date().addingTimeInterval(86_400), validity: 86_400)
    }
}
