import Foundation
import Testing
import X509

@testable import DeviceIdentity

@Suite("Client certificate verifier")
struct ClientCertificateVerifierTests {
    let authority: CertificateAuthority
    let verifier: ClientCertificateVerifier

    init() throws {
        self.authority = try Fixtures.makeRoot()
        self.verifier = ClientCertificateVerifier(trustRoots: [self.authority.certificate])
    }

    private var during: Date { Fixtures.referenceTime.addingTimeInterval(Fixtures.oneDay) }

    @Test("a client certificate from a trusted CA is accepted, with its id and chain")
    func trusted() async throws {
        let client = try Fixtures.makeClient(from: self.authority)
        let outcome = await self.verifier.verify(chain: [client.certificate], at: self.during)
        guard case .trusted(let leaf, let chain, let certificateID) = outcome else {
            Issue.record("expected trusted, got \(outcome)")
            return
        }
        #expect(leaf == client.certificate)
        #expect(chain == [client.certificate, self.authority.certificate])
        #expect(certificateID == client.certificateID)
    }

    @Test("the CA certificate sent along with the leaf does no harm")
    func leafWithRootInChain() async throws {
        let client = try Fixtures.makeClient(from: self.authority)
        let outcome = await self.verifier.verify(
            chain: [client.certificate, self.authority.certificate], at: self.during)
        #expect(outcome.isTrusted)
    }

    @Test("validity bounds are inclusive")
    func boundaries() async throws {
        let client = try Fixtures.makeClient(from: self.authority, validity: Fixtures.oneDay)
        let start = await self.verifier.verify(chain: [client.certificate], at: client.certificate.notValidBefore)
        let end = await self.verifier.verify(chain: [client.certificate], at: client.certificate.notValidAfter)
        #expect(start.isTrusted)
        #expect(end.isTrusted)
    }

    @Test("a client certificate from another CA is rejected, even one with the same name")
    func untrustedIssuer() async throws {
        // Both roots use the default subject, so this also proves the signature is checked, not the name.
        let sameName = try Fixtures.makeRoot()
        let otherName = try Fixtures.makeRoot(commonName: "Somebody Else's CA")
        for foreign in [sameName, otherName] {
            let client = try Fixtures.makeClient(from: foreign)
            let outcome = await self.verifier.verify(chain: [client.certificate, foreign.certificate], at: self.during)
            #expect(outcome.rejection?.code == .untrustedIssuer)
        }
    }

    @Test("an expired certificate is rejected as expired")
    func expired() async throws {
        let client = try Fixtures.makeClient(from: self.authority, validity: Fixtures.oneDay)
        let outcome = await self.verifier.verify(
            chain: [client.certificate], at: client.certificate.notValidAfter.addingTimeInterval(1))
        let rejection = try #require(outcome.rejection)
        #expect(rejection.code == .expired)
        #expect(rejection.reason.contains("device-1"))
    }

    @Test("a certificate used before its start is rejected as not yet valid")
    func notYetValid() async throws {
        let client = try Fixtures.makeClient(from: self.authority, notBefore: self.during)
        let outcome = await self.verifier.verify(
            chain: [client.certificate], at: self.during.addingTimeInterval(-1))
        #expect(outcome.rejection?.code == .notYetValid)
    }

    @Test("a server certificate cannot be used as a client certificate")
    func serverCertificateAsClient() async throws {
        let server = try self.authority.issueServerCertificate(
            dnsNames: ["localhost"], commonName: "localhost",
            notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear)
        let outcome = await self.verifier.verify(chain: [server.certificate], at: self.during)
        let rejection = try #require(outcome.rejection)
        #expect(rejection.code == .badUsage)
        #expect(rejection.reason.contains("clientAuth"))
    }

    @Test("a leaf without key usage extensions is accepted, as many device certificates have none")
    func noUsageExtensions() async throws {
        let key = try KeyAlgorithm.p256.makePrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: Fixtures.referenceTime,
            notValidAfter: Fixtures.referenceTime.addingTimeInterval(Fixtures.oneYear),
            issuer: self.authority.certificate.subject,
            subject: try DistinguishedName { CommonName("bare") },
            extensions: Certificate.Extensions(),
            issuerPrivateKey: self.authority.privateKey
        )
        #expect(await self.verifier.verify(chain: [certificate], at: self.during).isTrusted)
    }

    @Test("an empty chain is rejected as no certificate")
    func emptyChain() async {
        let outcome = await self.verifier.verify(chain: [], at: self.during)
        #expect(outcome.rejection?.code == .noCertificate)
    }

    @Test("a verifier with no trust roots trusts nothing")
    func noTrustRoots() async throws {
        let client = try Fixtures.makeClient(from: self.authority)
        let outcome = await ClientCertificateVerifier(trustRoots: []).verify(chain: [client.certificate], at: self.during)
        #expect(outcome.rejection?.code == .untrustedIssuer)
    }

    @Test("intermediates are taken from the presented chain")
    func intermediateFromChain() async throws {
        let root = try Fixtures.makeExternalRoot()
        let verifier = ClientCertificateVerifier(trustRoots: [self.authority.certificate, root.certificate])
        let intermediate = try Fixtures.makeIntermediate(from: root)
        let client = try Fixtures.makeClient(from: intermediate)

        let withIntermediate = await verifier.verify(
            chain: [client.certificate, intermediate.certificate], at: self.during)
        guard case .trusted(_, let chain, _) = withIntermediate else {
            Issue.record("expected trusted, got \(withIntermediate)")
            return
        }
        #expect(chain == [client.certificate, intermediate.certificate, root.certificate])

        let leafOnly = await verifier.verify(chain: [client.certificate], at: self.during)
        #expect(leafOnly.rejection?.code == .untrustedIssuer)
    }

    @Test("the Portcullis root signs leaves only: a chain through an intermediate under it is refused")
    func rootPathLengthIsEnforced() async throws {
        let intermediate = try Fixtures.makeIntermediate(from: self.authority)
        let client = try Fixtures.makeClient(from: intermediate)
        let outcome = await self.verifier.verify(
            chain: [client.certificate, intermediate.certificate], at: self.during)
        let rejection = try #require(outcome.rejection)
        #expect(rejection.code == .other)
        #expect(rejection.reason.contains("path length"))
    }

    @Test("a registered intermediate is a trust anchor on its own")
    func intermediateAsTrustRoot() async throws {
        let intermediate = try Fixtures.makeIntermediate(from: Fixtures.makeExternalRoot())
        let client = try Fixtures.makeClient(from: intermediate)
        let verifier = ClientCertificateVerifier(trustRoots: [intermediate.certificate])
        #expect(await verifier.verify(chain: [client.certificate], at: self.during).isTrusted)
    }

    @Test("an expired intermediate makes the chain expired, naming the CA")
    func expiredIntermediate() async throws {
        let root = try Fixtures.makeExternalRoot()
        let verifier = ClientCertificateVerifier(trustRoots: [root.certificate])
        let intermediate = try Fixtures.makeIntermediate(from: root, validity: Fixtures.oneDay)
        let client = try Fixtures.makeClient(from: intermediate, validity: Fixtures.oneYear)
        let outcome = await verifier.verify(
            chain: [client.certificate, intermediate.certificate],
            at: Fixtures.referenceTime.addingTimeInterval(2 * Fixtures.oneDay))
        let rejection = try #require(outcome.rejection)
        #expect(rejection.code == .expired)
        #expect(rejection.reason.contains("issuing CA certificate"))
    }

    @Test("a leaf with an unknown critical extension is refused")
    func unknownCriticalExtension() async throws {
        let key = try KeyAlgorithm.p256.makePrivateKey()
        var extensions = Certificate.Extensions()
        try extensions.append(Certificate.Extension(oid: [1, 3, 6, 1, 4, 1, 99999, 1], critical: true, value: [0x05, 0x00]))
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: Fixtures.referenceTime,
            notValidAfter: Fixtures.referenceTime.addingTimeInterval(Fixtures.oneYear),
            issuer: self.authority.certificate.subject,
            subject: try DistinguishedName { CommonName("strange") },
            extensions: extensions,
            issuerPrivateKey: self.authority.privateKey
        )
        let outcome = await self.verifier.verify(chain: [certificate], at: self.during)
        #expect(outcome.rejection?.code == .unsupportedCriticalExtension)
    }
}

@Suite("Client certificate verifier, DER input")
struct ClientCertificateVerifierDERTests {
    @Test("a DER chain from a TLS callback verifies like parsed certificates")
    func derChain() async throws {
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)
        let verifier = ClientCertificateVerifier(trustRoots: [authority.certificate])
        let der = try client.certificate.serializeAsPEM().derBytes

        let outcome = await verifier.verify(derChain: [der], at: Fixtures.referenceTime)
        guard case .trusted(_, _, let certificateID) = outcome else {
            Issue.record("expected trusted, got \(outcome)")
            return
        }
        #expect(certificateID == CertificateID.compute(derBytes: der))
    }

    @Test("bytes that are not a certificate are a rejection, not a crash or a throw")
    func malformed() async throws {
        let authority = try Fixtures.makeRoot()
        let verifier = ClientCertificateVerifier(trustRoots: [authority.certificate])
        let der = try authority.certificate.serializeAsPEM().derBytes
        for garbage in [[], [0x30, 0x03, 0x02, 0x01], Array(der.dropLast())] as [[UInt8]] {
            let outcome = await verifier.verify(derChain: [garbage], at: Fixtures.referenceTime)
            #expect(outcome.rejection?.code == .malformedCertificate)
        }
        let empty = await verifier.verify(derChain: [], at: Fixtures.referenceTime)
        #expect(empty.rejection?.code == .noCertificate)
    }
}
