import Foundation
import SwiftASN1
import Testing
import X509

@testable import DeviceIdentity

@Suite("Certificate authority")
struct CertificateAuthorityTests {
    @Test("a root is a self-signed CA that may only sign certificates and CRLs")
    func rootProperties() throws {
        let authority = try Fixtures.makeRoot()
        let certificate = authority.certificate

        #expect(certificate.subject == certificate.issuer)
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(certificate.notValidBefore == Fixtures.referenceTime)
        #expect(
            certificate.notValidAfter == Fixtures.referenceTime.addingTimeInterval(CertificateAuthority.defaultRootValidity)
        )
        #expect(certificate.subject.description.contains("CN=Portcullis Local Root CA"))
        #expect(certificate.subject.description.contains("O=Portcullis"))

        let basicConstraints = try #require(certificate.extensions[oid: .X509ExtensionID.basicConstraints])
        #expect(basicConstraints.critical)
        #expect(try BasicConstraints(basicConstraints) == .isCertificateAuthority(maxPathLength: 0))

        let keyUsageExtension = try #require(certificate.extensions[oid: .X509ExtensionID.keyUsage])
        #expect(keyUsageExtension.critical)
        let keyUsage = try KeyUsage(keyUsageExtension)
        #expect(keyUsage == KeyUsage(keyCertSign: true, cRLSign: true))

        #expect(try certificate.extensions.subjectKeyIdentifier == SubjectKeyIdentifier(hash: certificate.publicKey))
    }

    @Test("serial numbers are random, positive and exactly 20 bytes")
    func serialNumbers() throws {
        let serials = (0..<16).map { _ in CertificateAuthority.makeSerialNumber() }
        for serial in serials {
            #expect(serial.bytes.count == 20)
            #expect(serial.bytes.first! & 0x80 == 0)
        }
        #expect(Set(serials).count == serials.count)

        let authority = try Fixtures.makeRoot()
        #expect(authority.certificate.serialNumber.bytes.count == 20)
    }

    @Test("a server certificate names every DNS name and IP address and is only for servers")
    func serverCertificate() throws {
        let authority = try Fixtures.makeRoot()
        let server = try authority.issueServerCertificate(
            dnsNames: ["localhost", "iot.example.internal"],
            ipAddresses: ["127.0.0.1", "::1"],
            commonName: "localhost",
            notBefore: Fixtures.referenceTime,
            validity: Fixtures.oneYear
        )
        let certificate = server.certificate

        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains(.dnsName("iot.example.internal")))
        #expect(names.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))))
        #expect(names.contains(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1])))))
        #expect(names.count == 4)

        let extendedKeyUsage = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(Array(extendedKeyUsage) == [.serverAuth])
        let keyUsageExtension = try #require(certificate.extensions[oid: .X509ExtensionID.keyUsage])
        #expect(keyUsageExtension.critical)
        #expect(try KeyUsage(keyUsageExtension) == KeyUsage(digitalSignature: true))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)

        #expect(certificate.issuer == authority.certificate.subject)
        #expect(certificate.notValidAfter == Fixtures.referenceTime.addingTimeInterval(Fixtures.oneYear))
        #expect(authority.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        let authorityKeyIdentifier = try #require(try certificate.extensions.authorityKeyIdentifier)
        #expect(
            authorityKeyIdentifier.keyIdentifier == (try authority.certificate.extensions.subjectKeyIdentifier)?.keyIdentifier
        )
    }

    @Test("a client certificate is for client authentication and carries the subject asked for")
    func clientCertificate() throws {
        let authority = try Fixtures.makeRoot()
        let client = try authority.issueClientCertificate(
            commonName: "thermostat-42",
            organization: "Acme",
            notBefore: Fixtures.referenceTime,
            validity: Fixtures.oneYear
        )
        let certificate = client.certificate

        let extendedKeyUsage = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(extendedKeyUsage.contains(.clientAuth))
        #expect(!extendedKeyUsage.contains(.serverAuth))
        #expect(try certificate.extensions.keyUsage == KeyUsage(digitalSignature: true))
        #expect(try certificate.extensions.authorityKeyIdentifier != nil)
        #expect(try certificate.extensions.subjectAlternativeNames == nil)
        #expect(certificate.subject.description.contains("CN=thermostat-42"))
        #expect(certificate.subject.description.contains("O=Acme"))
        #expect(client.privateKey.publicKey == certificate.publicKey)
    }

    @Test("a client certificate can reuse a key the caller holds")
    func clientCertificateWithExistingKey() throws {
        let authority = try Fixtures.makeRoot()
        let key = try KeyAlgorithm.p256.makePrivateKey()
        let first = try authority.issueClientCertificate(
            commonName: "a", notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear, key: .existing(key))
        let second = try authority.issueClientCertificate(
            commonName: "a", notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear, key: .existing(key))
        #expect(first.certificate.publicKey == key.publicKey)
        #expect(second.certificate.publicKey == key.publicKey)
        #expect(first.certificateID != second.certificateID)
    }

    @Test("a client certificate can have an RSA-2048 key, as AWS issues")
    func rsaClientCertificate() async throws {
        let authority = try Fixtures.makeRoot()
        let client = try authority.issueClientCertificate(
            commonName: "rsa-device",
            notBefore: Fixtures.referenceTime,
            validity: Fixtures.oneYear,
            key: .generate(.rsa2048)
        )
        #expect(client.privateKey.description == "RSA2048.PrivateKey")
        #expect(client.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))

        let reloaded = try IssuedCredential(certificatePEM: client.certificatePEM, privateKeyPEM: client.privateKeyPEM)
        #expect(reloaded == client)

        let verifier = ClientCertificateVerifier(trustRoots: [authority.certificate])
        let outcome = await verifier.verify(chain: [client.certificate], at: Fixtures.referenceTime)
        #expect(outcome.isTrusted)
    }

    @Test("a certificate is issued for the key in a signing request, with the requested subject")
    func issueFromCSR() async throws {
        let authority = try Fixtures.makeRoot()
        let deviceKey = try KeyAlgorithm.p256.makePrivateKey()
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName("csr-device") },
            privateKey: deviceKey,
            attributes: .init(),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        let pem = try request.serializeAsPEM().pemString
        let parsed = try PEM.parseCertificateSigningRequest(pem: pem)

        let certificate = try authority.issueClientCertificate(
            for: parsed, notBefore: Fixtures.referenceTime, validity: Fixtures.oneYear)
        #expect(certificate.publicKey == deviceKey.publicKey)
        #expect(certificate.subject == request.subject)
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.clientAuth) == true)

        let verifier = ClientCertificateVerifier(trustRoots: [authority.certificate])
        #expect(await verifier.verify(chain: [certificate], at: Fixtures.referenceTime).isTrusted)
    }

    @Test("a signing request not signed by its own key is refused")
    func forgedCSR() throws {
        let authority = try Fixtures.makeRoot()
        let signed = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName("victim") },
            privateKey: try KeyAlgorithm.p256.makePrivateKey(),
            attributes: .init(),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        let forged = try CertificateSigningRequest(
            version: .v1,
            subject: signed.subject,
            publicKey: try KeyAlgorithm.p256.makePrivateKey().publicKey,
            attributes: .init(),
            signatureAlgorithm: .ecdsaWithSHA256,
            signature: signed.signature
        )
        let error = #expect(throws: DeviceIdentityError.self) {
            try authority.issueClientCertificate(for: forged, notBefore: Fixtures.referenceTime, validity: 60)
        }
        #expect(error?.code == .invalidCSRSignature)
    }

    @Test("bad issuing parameters are refused with a precise code")
    func invalidParameters() throws {
        let authority = try Fixtures.makeRoot()
        let time = Fixtures.referenceTime

        let badIP = #expect(throws: DeviceIdentityError.self) {
            try authority.issueServerCertificate(
                dnsNames: ["localhost"], ipAddresses: ["300.1.1.1"], commonName: "x", notBefore: time, validity: 60)
        }
        #expect(badIP?.code == .invalidIPAddress)
        #expect(badIP?.reason.contains("300.1.1.1") == true)

        let noNames = #expect(throws: DeviceIdentityError.self) {
            try authority.issueServerCertificate(dnsNames: [], commonName: "x", notBefore: time, validity: 60)
        }
        #expect(noNames?.code == .invalidSubjectAlternativeName)

        let badDNS = #expect(throws: DeviceIdentityError.self) {
            try authority.issueServerCertificate(dnsNames: ["my host"], commonName: "x", notBefore: time, validity: 60)
        }
        #expect(badDNS?.code == .invalidSubjectAlternativeName)

        for validity in [0, -1, .infinity, .nan] as [TimeInterval] {
            let badValidity = #expect(throws: DeviceIdentityError.self) {
                try authority.issueClientCertificate(commonName: "x", notBefore: time, validity: validity)
            }
            #expect(badValidity?.code == .invalidValidity)
        }
    }

    @Test("a leaf certificate cannot be used as a CA")
    func leafIsNotACA() throws {
        let client = try Fixtures.makeClient(from: Fixtures.makeRoot())
        let error = #expect(throws: DeviceIdentityError.self) {
            try CertificateAuthority(certificatePEM: client.certificatePEM, privateKeyPEM: client.privateKeyPEM)
        }
        #expect(error?.code == .notACertificateAuthority)
    }

    @Test("descriptions never include the private key")
    func redaction() throws {
        let authority = try Fixtures.makeRoot()
        let client = try Fixtures.makeClient(from: authority)
        var dumped = ""
        dump(client, to: &dumped)
        for text in [String(describing: client), String(reflecting: client), dumped] {
            #expect(!text.contains("PRIVATE KEY"))
        }
        var dumpedAuthority = ""
        dump(authority, to: &dumpedAuthority)
        for text in [String(describing: authority), String(reflecting: authority), dumpedAuthority] {
            #expect(!text.contains("PRIVATE KEY"))
        }
    }
}
