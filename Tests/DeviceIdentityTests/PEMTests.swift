import Foundation
import Testing
import X509

@testable import DeviceIdentity

@Suite("PEM")
struct PEMTests {
    @Test("a CA round-trips through its PEM certificate and key")
    func certificateAuthorityRoundTrip() throws {
        let authority = try Fixtures.makeRoot()
        #expect(authority.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(authority.certificatePEM.hasSuffix("-----END CERTIFICATE-----\n"))
        #expect(authority.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(authority.privateKeyPEM.hasSuffix("-----END PRIVATE KEY-----\n"))

        let reloaded = try CertificateAuthority(
            certificatePEM: authority.certificatePEM,
            privateKeyPEM: authority.privateKeyPEM
        )
        #expect(reloaded.certificate == authority.certificate)
        #expect(reloaded.privateKey == authority.privateKey)
        #expect(reloaded.certificateID == authority.certificateID)
        #expect(reloaded.certificatePEM == authority.certificatePEM)
        #expect(reloaded.privateKeyPEM == authority.privateKeyPEM)

        // The reloaded CA signs certificates that chain to the original.
        let client = try Fixtures.makeClient(from: reloaded)
        #expect(authority.certificate.publicKey.isValidSignature(client.certificate.signature, for: client.certificate))
    }

    @Test("issued credentials round-trip through PEM")
    func credentialRoundTrip() throws {
        let authority = try Fixtures.makeRoot()
        let server = try authority.issueServerCertificate(
            dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], commonName: "localhost",
            notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear)
        let client = try Fixtures.makeClient(from: authority)

        for credential in [server, client] {
            let reloaded = try IssuedCredential(
                certificatePEM: credential.certificatePEM, privateKeyPEM: credential.privateKeyPEM)
            #expect(reloaded == credential)
            #expect(try PEM.parsePrivateKey(pem: credential.privateKeyPEM) == credential.privateKey)
        }
    }

    @Test("a key that does not belong to the certificate is refused with a clear error")
    func mismatchedKey() throws {
        let authority = try Fixtures.makeRoot()
        let other = try Fixtures.makeRoot()

        let error = #expect(throws: DeviceIdentityError.self) {
            try CertificateAuthority(certificatePEM: authority.certificatePEM, privateKeyPEM: other.privateKeyPEM)
        }
        #expect(error?.code == .privateKeyMismatch)
        #expect(error?.reason.contains("does not match") == true)
        #expect(error?.description.contains("privateKeyMismatch") == true)

        let client = try Fixtures.makeClient(from: authority)
        let credentialError = #expect(throws: DeviceIdentityError.self) {
            try IssuedCredential(certificatePEM: client.certificatePEM, privateKeyPEM: authority.privateKeyPEM)
        }
        #expect(credentialError?.code == .privateKeyMismatch)
    }

    @Test("a bundle parses in order, ignoring text around the blocks")
    func bundle() throws {
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)
        let bundle = "subject=CN = device-1\n" + client.certificatePEM + "\nsome comment\n" + authority.certificatePEM
        let certificates = try PEM.parseCertificates(pem: bundle)
        #expect(certificates == [client.certificate, authority.certificate])
        #expect(try PEM.encode([client.certificate, authority.certificate]) == client.certificatePEM + authority.certificatePEM)
    }

    @Test("76-column base64 and CRLF line endings are accepted")
    func laxLayout() throws {
        let authority = try Fixtures.makeRoot()
        let der = try authority.certificate.serializeAsPEM().derBytes
        let base64 = Data(der).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let pem = "-----BEGIN CERTIFICATE-----\r\n\(base64)\r\n-----END CERTIFICATE-----\r\n"
        #expect(try PEM.parseCertificate(pem: pem) == authority.certificate)
    }

    @Test("PKCS#1 RSA keys load, and are written back as PKCS#8")
    func pkcs1Keys() throws {
        // SEC1 "EC PRIVATE KEY" input is covered by the OpenSSL interop tests, which can produce it.
        let rsa = try KeyAlgorithm.rsa2048.makePrivateKey()
        let pkcs1 = try rsa.serializeAsPEM()
        #expect(pkcs1.discriminator == "RSA PRIVATE KEY")
        let loaded = try PEM.parsePrivateKey(pem: pkcs1.pemString)
        #expect(loaded == rsa)
        #expect(try PEM.encodePrivateKey(loaded).hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test("wrong or broken input gives a coded error")
    func errors() throws {
        let authority = try Fixtures.makeRoot()

        let keyAsCertificate = #expect(throws: DeviceIdentityError.self) {
            try PEM.parseCertificates(pem: authority.privateKeyPEM)
        }
        #expect(keyAsCertificate?.code == .invalidPEM)
        #expect(keyAsCertificate?.reason.contains("PRIVATE KEY") == true)

        #expect(throws: DeviceIdentityError(code: .invalidPEM, reason: "")) {
            try PEM.parseCertificates(pem: "not pem at all")
        }
        #expect(throws: DeviceIdentityError(code: .invalidPEM, reason: "")) {
            try PEM.parseCertificates(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n")
        }
        #expect(throws: DeviceIdentityError(code: .invalidPEM, reason: "")) {
            try PEM.parseCertificates(pem: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
        }
        #expect(throws: DeviceIdentityError(code: .invalidCertificate, reason: "")) {
            try PEM.parseCertificates(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        }
        #expect(throws: DeviceIdentityError(code: .invalidPEM, reason: "")) {
            try PEM.parseCertificate(pem: authority.certificatePEM + authority.certificatePEM)
        }
        #expect(throws: DeviceIdentityError(code: .unsupportedPrivateKey, reason: "")) {
            try PEM.parsePrivateKey(pem: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
        }
        #expect(throws: DeviceIdentityError(code: .unsupportedPrivateKey, reason: "")) {
            try PEM.parsePrivateKey(
                pem: "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n")
        }
        #expect(throws: DeviceIdentityError(code: .unsupportedPrivateKey, reason: "")) {
            try PEM.parsePrivateKey(pem: authority.certificatePEM)
        }
    }
}
