import Crypto
import X509
import _CryptoExtras

/// The kind of key pair generated for a newly issued certificate.
///
/// P-256 is the default everywhere: small, fast, and supported by every TLS stack we target. RSA-2048
/// exists because it is what AWS IoT's `CreateKeysAndCertificate` hands out, and some device SDKs and
/// secure elements only accept RSA.
public enum KeyAlgorithm: Sendable, Hashable, CaseIterable {
    /// ECDSA on NIST P-256, signed with SHA-256.
    case p256
    /// RSA with a 2048-bit modulus, signed with SHA-256 (PKCS#1 v1.5).
    case rsa2048

    /// Generates a fresh private key of this kind.
    ///
    /// RSA generation takes tens to hundreds of milliseconds; keep it off event loops.
    public func makePrivateKey() throws -> Certificate.PrivateKey {
        switch self {
        case .p256:
            return Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .rsa2048:
            do {
                return Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
            } catch {
                throw DeviceIdentityError(code: .encodingFailed, reason: "cannot generate an RSA-2048 key: \(error)")
            }
        }
    }
}
