import SwiftASN1
import X509

/// A verifier policy requiring that the leaf may be used to authenticate a TLS client.
///
/// swift-certificates' RFC 5280 policy does not look at key usage or extended key usage. Without this
/// check a server certificate issued by a registered CA could be replayed as a device identity. We
/// follow OpenSSL's rule for the "SSL client" purpose, which AWS IoT's behaviour matches: the checks
/// apply only when the extension is present, because many device certificates carry neither.
struct ClientAuthenticationPolicy: VerifierPolicy, Sendable {
    /// We enforce these, so a leaf may mark them critical.
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.extendedKeyUsage,
        .X509ExtensionID.keyUsage,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let problem = Self.usageProblem(of: chain.leaf) {
            return .failsToMeetPolicy(reason: "ClientAuthenticationPolicy: \(problem)")
        }
        return .meetsPolicy
    }

    /// Describes why `leaf` may not authenticate a TLS client, or returns `nil` if it may.
    static func usageProblem(of leaf: Certificate) -> String? {
        do {
            if let extendedKeyUsage = try leaf.extensions.extendedKeyUsage,
                !extendedKeyUsage.contains(.clientAuth),
                // RFC 5280 lets anyExtendedKeyUsage stand for every purpose.
                !extendedKeyUsage.contains(.any)
            {
                return "extended key usage \(extendedKeyUsage) does not include clientAuth"
            }
            // TLS client authentication signs the handshake (or, for static ECDH, agrees a key).
            if let keyUsage = try leaf.extensions.keyUsage, !keyUsage.digitalSignature, !keyUsage.keyAgreement {
                return "key usage \(keyUsage) allows neither digitalSignature nor keyAgreement"
            }
        } catch {
            return "key usage extensions are malformed: \(error)"
        }
        return nil
    }
}
