import Crypto
import Testing
import X509

@testable import DeviceIdentity

@Suite("Certificate id")
struct CertificateIDTests {
    @Test("is the lowercase hex SHA-256 of the DER encoding")
    func matchesIndependentSHA256() throws {
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)

        let der = try client.certificate.serializeAsPEM().derBytes
        let expected = SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()

        #expect(try CertificateID.compute(client.certificate) == expected)
        #expect(CertificateID.compute(derBytes: der) == expected)
        #expect(client.certificateID == expected)
    }

    @Test("is 64 lowercase hex characters")
    func shape() throws {
        let id = try Fixtures.makeRoot().certificateID
        #expect(id.count == 64)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test("differs between certificates, even for the same subject")
    func differsBetweenCertificates() throws {
        let authority = try Fixtures.makeRoot()
        let first = try Fixtures.makeClient(from: authority, commonName: "same")
        let second = try Fixtures.makeClient(from: authority, commonName: "same")
        #expect(first.certificateID != second.certificateID)
        #expect(first.certificateID != authority.certificateID)
    }

    @Test("survives a PEM round trip, since it depends only on the DER bytes")
    func stableAcrossPEM() throws {
        let client = try Fixtures.makeClient(from: Fixtures.makeRoot())
        let parsed = try PEM.parseCertificate(pem: client.certificatePEM)
        #expect(try CertificateID.compute(parsed) == client.certificateID)
    }

    @Test("matches a known vector")
    func knownVector() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(
            CertificateID.compute(derBytes: Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }
}
