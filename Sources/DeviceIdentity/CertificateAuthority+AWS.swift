#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import _CryptoExtras
import X509

/// The two ways AWS IoT hands out device certificates, done by the gateway's CA: CreateKeysAndCertificate
/// (a fresh RSA-2048 key pair) and CreateCertificateFromCsr (the device keeps its key).
extension CertificateAuthority {
    /// AWS-issued certificates are valid until the end of 2049 (reference 2.1).
    public static let awsIssuedNotAfter = Date(timeIntervalSince1970: 2_524_607_999)

    /// CreateKeysAndCertificate: an RSA-2048 key and a certificate for it. Slow (RSA key generation):
    /// never call it on an event loop.
    public func issueKeysAndCertificate(now: Date) throws -> IssuedCredential {
        let notBefore = now.addingTimeInterval(-3600)
        return try issueClientCertificate(
            commonName: "AWS IoT Certificate", notBefore: notBefore,
            validity: Self.awsIssuedNotAfter.timeIntervalSince(notBefore), key: .generate(.rsa2048))
    }

    /// CreateCertificateFromCsr: checks the request's key as AWS does (RSA of at least 2048 bits, or
    /// ECDSA on P-256, P-384 or P-521) and its signature, then issues.
    public func issueCertificate(forCSR pem: String, now: Date) throws -> Certificate {
        let request = try PEM.parseCertificateSigningRequest(pem: pem)
        if let problem = Self.csrKeyProblem(request.publicKey) {
            throw DeviceIdentityError(code: .unsupportedPrivateKey, reason: problem)
        }
        let notBefore = now.addingTimeInterval(-3600)
        return try issueClientCertificate(for: request, notBefore: notBefore, validity: Self.awsIssuedNotAfter.timeIntervalSince(notBefore))
    }

    /// Why a CSR's key is refused, or nil if it is acceptable.
    static func csrKeyProblem(_ key: Certificate.PublicKey) -> String? {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil || P521.Signing.PublicKey(key) != nil { return nil }
        if let rsa = _RSA.Signing.PublicKey(key) {
            return rsa.keySizeInBits >= 2048 ? nil : "the RSA key has \(rsa.keySizeInBits) bits; at least 2048 are required"
        }
        return "the key must be RSA (2048 bits or more) or ECDSA on P-256, P-384 or P-521"
    }
}

extension Certificate.PublicKey {
    /// The key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as AWS returns it in `keyPair.PublicKey`.
    public var pemString: String {
        get throws {
            do {
                return try serializeAsPEM().pemString + "\n"
            } catch {
                throw DeviceIdentityError(code: .encodingFailed, reason: "cannot encode the public key: \(error)")
            }
        }
    }
}
