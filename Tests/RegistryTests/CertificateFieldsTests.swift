import Crypto
import Foundation
import IoTPolicy
@testable import Registry
import SwiftASN1
import Testing
import X509

/// The certificate policy variables (reference 3.5) read from a real certificate: Subject and Issuer
/// fields with several values, subject and issuer alternative names of every kind, the serial number.
@Suite("Registry: certificate policy variables")
struct CertificateFieldsTests {
    @Test func everyFieldAlternativeNameAndTheSerialAreVariables() throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            CountryName("DE")
            OrganizationName("Acme")
            OrganizationalUnitName("ops")
            OrganizationalUnitName("plant-3")
            CommonName("sensor-42")
        }
        let issuer = try DistinguishedName {
            OrganizationName("Acme CA")
            CommonName("Acme Devices CA")
        }
        let issuerNames = try Certificate.Extension(SubjectAlternativeNames([.dnsName("ca.acme.example"), .uniformResourceIdentifier("https://ca.acme.example")]),
                                                    critical: false)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x0a, 0xbc, 0x01]), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: issuer, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.dnsName("sensor-42.acme.example"), .dnsName("s42.local"), .rfc822Name("ops@acme.example"),
                                         .ipAddress(ASN1OctetString(contentBytes: [10, 1, 2, 3]))])
                Certificate.Extension(oid: [2, 5, 29, 18], critical: false, value: issuerNames.value)
            },
            issuerPrivateKey: .init(key))
        var context = AuthorizationContext()
        CertificateFields.add(certificate, to: &context)

        #expect(context.substitution(for: "iot:Certificate.Subject.CommonName") == "sensor-42")
        #expect(context.substitution(for: "iot:Certificate.Subject.Country") == "DE")
        #expect(context.substitution(for: "iot:Certificate.Subject.OrganizationalUnit") == "ops", "the first value")
        #expect(context.substitution(for: "iot:Certificate.Subject.OrganizationalUnit.1") == "plant-3", "the second value")
        #expect(context.values(of: "iot:Certificate.Subject.OrganizationalUnit.List") == ["ops", "plant-3"])
        #expect(context.substitution(for: "iot:Certificate.Subject.OrganizationalUnit.2") == nil, "no third value")
        #expect(context.substitution(for: "iot:Certificate.Issuer.CommonName") == "Acme Devices CA")
        #expect(context.substitution(for: "iot:Certificate.Issuer.Organization") == "Acme CA")
        #expect(context.values(of: "iot:Certificate.Subject.AlternativeName.DNSName.List") == ["sensor-42.acme.example", "s42.local"])
        #expect(context.substitution(for: "iot:Certificate.Subject.AlternativeName.RFC822Name") == "ops@acme.example")
        #expect(context.substitution(for: "iot:Certificate.Subject.AlternativeName.IPAddress") == "10.1.2.3")
        #expect(context.substitution(for: "iot:Certificate.Issuer.AlternativeName.DNSName") == "ca.acme.example")
        #expect(context.substitution(for: "iot:Certificate.Issuer.AlternativeName.UniformResourceIdentifier") == "https://ca.acme.example")
        #expect(context.substitution(for: "iot:Certificate.SerialNumber") == "0abc01")
        #expect(context.substitution(for: "iot:Certificate.Subject.Surname") == nil, "absent fields do not resolve")
        let available = try #require(context.values(of: "iot:Certificate.AvailableKeys"))
        #expect(available.contains("iot:Certificate.Issuer.AlternativeName.DNSName"))
        #expect(available.contains("iot:Certificate.Subject.OrganizationalUnit"))
        #expect(!available.contains("iot:Certificate.Subject.Surname"))
    }
}
