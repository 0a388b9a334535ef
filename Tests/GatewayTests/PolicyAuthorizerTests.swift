import DeviceIdentity
import Foundation
@testable import Gateway
import PortcullisTesting
import Testing

@Suite("Gateway: policy authorizer")
struct PolicyAuthorizerTests {
    @Test(arguments: [("::ffff:10.1.2.3", "10.1.2.3"), ("::FFFF:192.168.0.1", "192.168.0.1"), ("10.1.2.3", "10.1.2.3"),
                      ("::1", "::1"), ("::ffff:abcd", "::ffff:abcd"), ("2001:db8::1", "2001:db8::1")])
    func ipv4MappedSourceAddressesAreSeenAsIPv4(address: String, seen: String) {
        #expect(PolicyAuthorizer.policySourceIP(address) == seen)
    }

    /// A client may send any SNI: only the names the server certificate is for become iot:DomainName.
    @Test func onlyServerCertificateNamesBecomeTheDomainName() throws {
        let pki = try TestPKI()
        let server = try pki.authority.issueServerCertificate(dnsNames: ["localhost", "IoT.Example.com"], ipAddresses: ["127.0.0.1"],
                                                              commonName: "gw", notBefore: Date().addingTimeInterval(-60), validity: 3600)
        let tls = try ServerTLSDirectory(material: GatewayTLSMaterial(serverCertificateChainPEM: server.certificatePEM, serverPrivateKeyPEM: server.privateKeyPEM,
                                                                      trustedCACertificatesPEM: pki.authority.certificatePEM))
        #expect(tls.domainName(fromSNI: "localhost") == "localhost")
        #expect(tls.domainName(fromSNI: "iot.example.COM.") == "iot.example.com")
        #expect(tls.domainName(fromSNI: "evil.example") == nil)
        #expect(tls.domainName(fromSNI: "127.0.0.1") == nil, "IP addresses are not domain names")
    }
}
