#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// Decides whether the certificate chain a device presents in a TLS handshake is acceptable.
///
/// This is the cryptographic half of device authentication: the chain must reach one of the trust
/// roots (the registered CA certificates) with valid signatures, every certificate must be in its
/// validity period, and the leaf must be usable for client authentication. Whether the device
/// certificate is registered and active is the registry's question, answered with the returned
/// certificate id.
///
/// The verifier is an immutable value: build a new one when the set of registered CAs changes and
/// swap it in, so that handshakes in flight keep a consistent view.
public struct ClientCertificateVerifier: Sendable {
    /// The certificates chains must lead to.
    public let trustRoots: [Certificate]

    private let rootStore: CertificateStore

    /// Creates a verifier trusting the given CA certificates.
    ///
    /// A trust root need not be self-signed: registering an intermediate CA makes chains that end
    /// at it acceptable, as AWS IoT allows.
    public init(trustRoots: [Certificate]) {
        self.trustRoots = trustRoots
        self.rootStore = CertificateStore(trustRoots)
    }

    /// Verifies a presented chain.
    ///
    /// - Parameters:
    ///   - chain: The certificates as the TLS peer sent them, leaf first. The others are used only as
    ///     candidate intermediates; their order and any extras do not matter.
    ///   - time: The time to check validity periods against; `Date()` in production.
    /// - Returns: ``ClientVerification/trusted(leaf:chain:certificateID:)`` or a rejection with a reason.
    public func verify(chain: [Certificate], at time: Date) async -> ClientVerification {
        guard let leaf = chain.first else {
            return .rejected(ClientRejection(code: .noCertificate, reason: "the client presented no certificate"))
        }
        var verifier = Verifier(rootCertificates: self.rootStore) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            ClientAuthenticationPolicy()
        }
        // The verifier reports this case without a reason; classify it before it is lost.
        let handled = verifier.policy.verifyingCriticalExtensions
        if let unhandled = leaf.extensions.first(where: { $0.critical && !handled.contains($0.oid) }) {
            return .rejected(
                ClientRejection(
                    code: .unsupportedCriticalExtension,
                    reason: "certificate '\(leaf.subject)' has unsupported critical extension \(unhandled.oid)"
                )
            )
        }

        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst()))
        switch result {
        case .validCertificate(let validated):
            do {
                return .trusted(leaf: leaf, chain: Array(validated), certificateID: try CertificateID.compute(leaf))
            } catch {
                return .rejected(ClientRejection(code: .other, reason: "cannot compute certificate id: \(error)"))
            }
        case .couldNotValidate(let failures):
            return .rejected(Self.classify(leaf: leaf, failures: failures, at: time))
        }
    }

    /// Checks a certificate that is trusted by itself (registered by its fingerprint, as with
    /// RegisterCertificateWithoutCA): no chain, but its validity period, its usage and its critical
    /// extensions are checked as for any other leaf.
    public static func verifyPinned(leaf: Certificate, at time: Date) -> ClientVerification {
        let handled: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage, .X509ExtensionID.keyUsage,
                                               .X509ExtensionID.basicConstraints, .X509ExtensionID.subjectAlternativeName]
        if let unhandled = leaf.extensions.first(where: { $0.critical && !handled.contains($0.oid) }) {
            return .rejected(ClientRejection(code: .unsupportedCriticalExtension,
                                             reason: "certificate '\(leaf.subject)' has unsupported critical extension \(unhandled.oid)"))
        }
        if time < leaf.notValidBefore {
            return .rejected(ClientRejection(code: .notYetValid,
                                             reason: "certificate '\(leaf.subject)' is not valid before \(leaf.notValidBefore) (checked at \(time))"))
        }
        if time > leaf.notValidAfter {
            return .rejected(ClientRejection(code: .expired,
                                             reason: "certificate '\(leaf.subject)' expired at \(leaf.notValidAfter) (checked at \(time))"))
        }
        if let problem = ClientAuthenticationPolicy.usageProblem(of: leaf) {
            return .rejected(ClientRejection(code: .badUsage, reason: "certificate '\(leaf.subject)' may not be used by a client: \(problem)"))
        }
        do {
            return .trusted(leaf: leaf, chain: [leaf], certificateID: try CertificateID.compute(leaf))
        } catch {
            return .rejected(ClientRejection(code: .other, reason: "cannot compute certificate id: \(error)"))
        }
    }

    /// Verifies a presented chain given as DER bytes, the form TLS libraries hand over (for example
    /// `NIOSSLCertificate.toDERBytes()` in a custom verification callback).
    ///
    /// A certificate that does not parse is a rejection rather than a thrown error: it came from an
    /// unauthenticated peer, and the caller handles it like any other refusal.
    public func verify(derChain: [[UInt8]], at time: Date) async -> ClientVerification {
        var chain: [Certificate] = []
        chain.reserveCapacity(derChain.count)
        for (index, der) in derChain.enumerated() {
            do {
                chain.append(try Certificate(derEncoded: der))
            } catch {
                if let problem = KeyStrength.problem(certificateDER: der) {
                    return .rejected(ClientRejection(code: .weakKey, reason: "certificate \(index + 1) of the presented chain: \(problem)"))
                }
                return .rejected(
                    ClientRejection(
                        code: .malformedCertificate,
                        reason: "certificate \(index + 1) of the presented chain is not valid X.509: \(error)"
                    )
                )
            }
        }
        return await self.verify(chain: chain, at: time)
    }

    /// Turns the verifier's failure list into one coded reason.
    ///
    /// The verifier only reports free-text reasons for chains that reached a trust root with valid
    /// signatures. We re-check such a chain ourselves, in the same order the policies run, to pick a
    /// code; no failures at all means no chain reached a root.
    static func classify(
        leaf: Certificate,
        failures: [CertificateValidationResult.PolicyFailure],
        at time: Date
    ) -> ClientRejection {
        guard let failure = failures.first else {
            return ClientRejection(
                code: .untrustedIssuer,
                reason: "no chain from '\(leaf.subject)' reaches a trusted CA: "
                    + "issuer '\(leaf.issuer)' is not registered or did not sign it"
            )
        }
        for certificate in failure.chain {
            let which = certificate == leaf ? "certificate" : "issuing CA certificate"
            if time < certificate.notValidBefore {
                return ClientRejection(
                    code: .notYetValid,
                    reason: "\(which) '\(certificate.subject)' is not valid before \(certificate.notValidBefore) "
                        + "(checked at \(time))"
                )
            }
            if time > certificate.notValidAfter {
                return ClientRejection(
                    code: .expired,
                    reason: "\(which) '\(certificate.subject)' expired at \(certificate.notValidAfter) "
                        + "(checked at \(time))"
                )
            }
        }
        if let problem = ClientAuthenticationPolicy.usageProblem(of: leaf) {
            return ClientRejection(
                code: .badUsage,
                reason: "certificate '\(leaf.subject)' may not be used by a client: \(problem)"
            )
        }
        return ClientRejection(code: .other, reason: "\(failure.policyFailureReason)")
    }
}
