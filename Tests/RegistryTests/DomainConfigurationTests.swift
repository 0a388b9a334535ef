import DeviceIdentity
import Foundation
@testable import Registry
import Testing
import X509

/// ACM-imported server certificates and domain configurations: AWS's rules, each refusal tested.
@Suite("Registry: server certificates and domain configurations")
struct DomainConfigurationTests {
    let arns = ARNs(region: "us-east-1", accountID: "123456789012")
    let ca: CertificateAuthority
    let now = Date().timeIntervalSince1970

    init() throws {
        ca = try CertificateAuthority.makeRoot(commonName: "Server CA", notBefore: Date().addingTimeInterval(-86_400))
    }

    func server(_ names: [String], key: KeyAlgorithm = .p256, validity: TimeInterval = 86_400 * 30) throws -> IssuedCredential {
        try ca.issueServerCertificate(dnsNames: names, commonName: names[0], notBefore: Date().addingTimeInterval(-60), validity: validity,
                                      keyAlgorithm: key)
    }

    func importing(_ state: inout RegistryState, _ credential: IssuedCredential, chain: String? = nil, arn: String? = nil) throws -> ServerCertificateRecord {
        try state.importServerCertificate(certificate: Array(credential.certificatePEM.utf8), privateKey: Array(credential.privateKeyPEM.utf8),
                                          chain: chain.map { Array($0.utf8) }, arn: arn, now: now)
    }

    func input(_ domain: String, _ arn: String?, policy: String? = nil) -> DomainConfigurationInput {
        var input = DomainConfigurationInput()
        input.domainName = domain
        input.serverCertificateArns = arn.map { [$0] }
        input.securityPolicy = policy
        return input
    }

    @Test func importDescribesTheCertificateAndKeepsTheKey() throws {
        var s = RegistryState(arns: arns)
        let credential = try server(["iot.example.com", "*.devices.example.com"])
        let record = try importing(&s, credential, chain: ca.certificatePEM)
        #expect(record.domainName == "iot.example.com")
        #expect(record.subjectAlternativeNames == ["iot.example.com", "*.devices.example.com"])
        #expect(record.keyAlgorithm == "EC_prime256v1" && record.serverAuth && record.generation == 1)
        #expect(record.privateKeyPEM == credential.privateKeyPEM)
        #expect(try s.serverCertificate(arn: arns.acmCertificate(record.id)) == record)
        #expect(ServerCertificateRules.covers(record, domain: "a.devices.example.com"))
        #expect(!ServerCertificateRules.covers(record, domain: "a.b.devices.example.com"), "a wildcard covers one label")
        #expect(!ServerCertificateRules.covers(record, domain: "example.com"))
    }

    @Test func badImportsAreRefused() throws {
        var s = RegistryState(arns: arns)
        let credential = try server(["iot.example.com"])
        let other = try server(["iot.example.com"])
        #expect(refusal { _ = try s.importServerCertificate(certificate: Array(credential.certificatePEM.utf8), privateKey: Array(other.privateKeyPEM.utf8),
                                                              chain: nil, arn: nil, now: now) } == .acmValidation, "key of another certificate")
        #expect(refusal { _ = try s.importServerCertificate(certificate: Array("junk".utf8), privateKey: Array(credential.privateKeyPEM.utf8),
                                                              chain: nil, arn: nil, now: now) } == .acmValidation)
        let stranger = try CertificateAuthority.makeRoot(commonName: "Server CA", notBefore: Date().addingTimeInterval(-86_400))
        #expect(refusal { _ = try importing(&s, credential, chain: stranger.certificatePEM) } == .acmValidation, "a chain that did not sign it")
        let expired = try ca.issueServerCertificate(dnsNames: ["old.example.com"], commonName: "old", notBefore: Date().addingTimeInterval(-7200),
                                                    validity: 3600)
        #expect(refusal { _ = try importing(&s, expired) } == .acmValidation, "expired")
        #expect(refusal { _ = try importing(&s, credential, arn: arns.acmCertificate("no-such-id")) } == .resourceNotFound)
        #expect(refusal { _ = try s.serverCertificate(arn: "arn:aws:acm:eu-west-1:123456789012:certificate/x") } == .acmInvalidARN)
        #expect(s.allServerCertificates.isEmpty, "nothing was imported")
    }

    @Test func aDomainConfigurationNeedsAServableCertificateForItsName() throws {
        var s = RegistryState(arns: arns)
        let good = try importing(&s, try server(["iot.example.com"]))
        let goodARN = arns.acmCertificate(good.id)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("other.example.com", goodARN), now: now) } == .certificateValidation,
                "the certificate does not cover the name")
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", nil), now: now) } == .invalidRequest, "no certificate")
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", arns.acmCertificate("missing")), now: now) } == .resourceNotFound)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "iot:Mine", input("iot.example.com", goodARN), now: now) } == .invalidRequest, "reserved")
        #expect(refusal { _ = try s.createDomainConfiguration(name: "bad name", input("iot.example.com", goodARN), now: now) } == .invalidRequest)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("not_a_domain", goodARN), now: now) } == .invalidRequest)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", goodARN, policy: "TLS10"), now: now) } == .invalidRequest)
        var custom = input("iot.example.com", goodARN)
        custom.authenticationType = "CUSTOM_AUTH"
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", custom, now: now) } == .invalidRequest, "no custom authorizers yet")
        var ocsp = input("iot.example.com", goodARN)
        ocsp.unsupported = "OCSP"
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", ocsp, now: now) } == .invalidRequest)

        let record = try s.createDomainConfiguration(name: "d", input("IoT.Example.com.", goodARN, policy: "iotsecuritypolicy_tls12_1_2_2022_10"), now: now)
        #expect(record.domainName == "iot.example.com" && record.enabled)
        #expect(record.securityPolicy == "IoTSecurityPolicy_TLS12_1_2_2022_10")
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", goodARN), now: now) } == .resourceAlreadyExists)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "e", input("iot.example.com", goodARN), now: now) } == .resourceAlreadyExists,
                "one configuration per domain name")
    }

    @Test func customDomainsNeedServerAuthAndAnRSA2048OrP256Key() throws {
        var s = RegistryState(arns: arns)
        let clientOnly = try ca.issueClientCertificate(commonName: "iot.example.com", notBefore: Date().addingTimeInterval(-60), validity: 86_400)
        let record = try importing(&s, clientOnly)
        #expect(!record.serverAuth)
        #expect(refusal { _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", arns.acmCertificate(record.id)), now: now) } == .certificateValidation)
        let rsa = try importing(&s, try server(["rsa.example.com"], key: .rsa2048))
        #expect(rsa.keyAlgorithm == "RSA_2048")
        _ = try s.createDomainConfiguration(name: "rsa", input("rsa.example.com", arns.acmCertificate(rsa.id)), now: now)
    }

    @Test func reimportRotatesButMustKeepAlgorithmAndNamesWhileInUse() throws {
        var s = RegistryState(arns: arns)
        let first = try importing(&s, try server(["iot.example.com"]))
        let arn = arns.acmCertificate(first.id)
        _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", arn), now: now)
        #expect(refusal { _ = try importing(&s, try server(["other.example.com"]), arn: arn) } == .acmValidation, "other names")
        #expect(refusal { _ = try importing(&s, try server(["iot.example.com"], key: .rsa2048), arn: arn) } == .acmValidation, "other algorithm")
        #expect(try s.serverCertificate(arn: arn) == first, "the refused imports left it in service")
        let rotated = try importing(&s, try server(["iot.example.com"]), arn: arn)
        #expect(rotated.id == first.id && rotated.generation == 2 && rotated.certificatePEM != first.certificatePEM)
        #expect(refusal { try s.deleteServerCertificate(arn: arn) } == .acmResourceInUse)
    }

    @Test func statusUpdatesDeletionAndTheDefaultDomain() throws {
        var s = RegistryState(arns: arns)
        let record = try importing(&s, try server(["iot.example.com"]))
        _ = try s.createDomainConfiguration(name: "d", input("iot.example.com", arns.acmCertificate(record.id)), now: now)
        #expect(refusal { try s.deleteDomainConfiguration(name: "d") } == .invalidRequest, "disable it first")
        var disable = DomainConfigurationInput()
        disable.status = "DISABLED"
        #expect(try !s.updateDomainConfiguration(name: "d", disable, now: now + 1).enabled)
        var bad = DomainConfigurationInput()
        bad.status = "PAUSED"
        #expect(refusal { _ = try s.updateDomainConfiguration(name: "d", bad, now: now) } == .invalidRequest)
        try s.deleteDomainConfiguration(name: "d")
        #expect(refusal { _ = try s.domainConfiguration(name: "d") } == .resourceNotFound)
        try s.deleteServerCertificate(arn: arns.acmCertificate(record.id))

        // The default domain: listed, described, only its TLS policy changes.
        #expect(try s.domainConfiguration(name: "iot:Data-ATS").securityPolicy == nil)
        #expect(try s.listDomainConfigurations(marker: nil, pageSize: nil).configurations.map(\.name) == ["iot:Data-ATS"])
        var policy = DomainConfigurationInput()
        policy.securityPolicy = "IotSecurityPolicy_TLS13_1_3_2022_10"
        #expect(try s.updateDomainConfiguration(name: "iot:Data-ATS", policy, now: now).securityPolicy == "IoTSecurityPolicy_TLS13_1_3_2022_10")
        #expect(refusal { _ = try s.updateDomainConfiguration(name: "iot:Data-ATS", disable, now: now) } == .invalidRequest, "the default cannot be disabled")
        #expect(refusal { try s.deleteDomainConfiguration(name: "iot:Data-ATS") } == .invalidRequest)
        // Stored and read back.
        let loaded = try RegistryState(arns: arns, records: s.changes(since: RegistryState(arns: arns)).upserts)
        #expect(loaded.defaultDomainConfiguration.securityPolicy == "IoTSecurityPolicy_TLS13_1_3_2022_10")
    }
}
