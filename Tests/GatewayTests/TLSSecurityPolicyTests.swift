import DeviceIdentity
import Foundation
@testable import Gateway
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PortcullisServer
import PortcullisTesting
import Testing

@Suite("Gateway: TLS security policies (reference 1.4.1)", .serialized)
struct TLSSecurityPolicyTests {
    @Test(arguments: [
        ("IoTSecurityPolicy_TLS13_1_2_2022_10", TLSSecurityPolicy.tls13_1_2_2022_10),
        ("IotSecurityPolicy_TLS13_1_3_2022_10", .tls13_1_3_2022_10),
        ("iotsecuritypolicy_tls12_1_0_2015_01", .tls12_1_0_2015_01),
        ("IOTSECURITYPOLICY_TLS13_1_2_2022_01", .tls13_1_2_2022_01),
    ])
    func namesAreAcceptedInBothSpellingsAndAnyCase(name: String, policy: TLSSecurityPolicy) {
        #expect(TLSSecurityPolicy(name: name) == policy)
    }

    @Test(arguments: ["TLS13_1_2_2022_10", "IoTSecurityPolicy_TLS11", "IoTSecurityPolicy_", "", "IoTSecurityPolicy_TLS13_1_2_2022_10 "])
    func otherNamesAreRefused(name: String) {
        #expect(TLSSecurityPolicy(name: name) == nil)
        #expect(TLSSecurityPolicy.unknownNameMessage(name).contains("IoTSecurityPolicy_TLS13_1_2_2022_10"))
    }

    @Test func theTableOfTheReference() {
        let rsaKeyExchange: Set<TLSCipherSuite> = [.rsaAES128GCMSHA256, .rsaAES256GCMSHA384, .rsaAES128SHA256, .rsaAES256SHA256]
        // A: TLS 1.3 only.
        #expect(TLSSecurityPolicy.tls13_1_3_2022_10.tls12CipherSuites(on: .dedicated).isEmpty)
        #expect(!TLSSecurityPolicy.tls13_1_3_2022_10.allowsTLS12 && TLSSecurityPolicy.tls13_1_3_2022_10.allowsTLS13)
        // B and C: the same 18 TLS 1.2 suites; C has no TLS 1.3.
        #expect(TLSSecurityPolicy.tls13_1_2_2022_10.tls12CipherSuites(on: .shared).count == 18)
        #expect(Set(TLSSecurityPolicy.tls12_1_2_2022_10.tls12CipherSuites(on: .dedicated)) == Set(TLSSecurityPolicy.tls13_1_2_2022_10.tls12CipherSuites(on: .dedicated)))
        #expect(!TLSSecurityPolicy.tls12_1_2_2022_10.allowsTLS13 && TLSSecurityPolicy.tls12_1_2_2022_10.tls13CipherSuites.isEmpty)
        // D: AES128-SHA256 on 443 only.
        #expect(TLSSecurityPolicy.tls12_1_0_2016_01.tls12CipherSuites(on: .shared).contains(.rsaAES128SHA256))
        #expect(!TLSSecurityPolicy.tls12_1_0_2016_01.tls12CipherSuites(on: .dedicated).contains(.rsaAES128SHA256))
        // E: the only policy with DHE.
        for policy in TLSSecurityPolicy.allCases {
            #expect(policy.tls12CipherSuites(on: .dedicated).contains(.dheRSAAES256SHA) == (policy == .tls12_1_0_2015_01))
        }
        // F: no ChaCha20, and of the RSA key exchange only the two SHA-1 CBC suites.
        let govCloud = TLSSecurityPolicy.tls13_1_2_2022_01
        #expect(govCloud.tls13CipherSuites == [.aes128GCMSHA256, .aes256GCMSHA384])
        #expect(Set(govCloud.tls12CipherSuites(on: .dedicated)).isDisjoint(with: rsaKeyExchange))
        #expect(govCloud.tls12CipherSuites(on: .dedicated).contains(.rsaAES128SHA) && govCloud.tls12CipherSuites(on: .dedicated).contains(.rsaAES256SHA))
        // Nothing served outside the table, and only what BoringSSL lacks is left out.
        for policy in TLSSecurityPolicy.allCases {
            for port in [TLSSecurityPolicy.Port.shared, .dedicated] {
                let table = policy.tls12CipherSuites(on: port)
                let served = policy.tls12CipherSuitesServed(on: port)
                #expect(Set(served).isSubset(of: Set(table)))
                #expect(table.filter { !served.contains($0) }.allSatisfy { !$0.isImplementedByBoringSSL })
            }
        }
    }

    // MARK: - handshakes against the live server

    /// Session tickets are checked from outside, with openssl s_client (Tests/Interop/test_tls_policies.py).
    @Test func theDefaultPolicyServesTLS12And13AndNotTLS11() async throws {
        try await LiveServer.with { live in
            let device = try await registeredDevice(live)
            let v13 = try await handshake(live, device) { _ in }
            #expect(v13.version == .tlsv13)
            let v12 = try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12 }
            #expect(v12.version == .tlsv12)
            await #expect(throws: (any Error).self) {
                try await handshake(live, device) { $0.maximumTLSVersion = .tlsv11; $0.minimumTLSVersion = .tlsv1 }
            }
        }
    }

    @Test func anRSAOnlyClientGetsTheRSAChainAndOthersTheECDSAOne() async throws {
        try await LiveServer.with { live in
            let device = try await registeredDevice(live)
            let rsaLeaf = try NIOSSLCertificate.fromPEMBytes(Array(live.server.preparation.rsaServerCertificatePEM.utf8))[0]
            let ecdsaLeaf = try NIOSSLCertificate.fromPEMBytes(Array(live.server.preparation.serverCertificatePEM.utf8))[0]
            let rsa12 = try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = "ECDHE-RSA-AES128-GCM-SHA256" }
            #expect(rsa12.leaf == rsaLeaf)
            let rsaKeyExchange = try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = "AES128-SHA" }
            #expect(rsaKeyExchange.leaf == rsaLeaf)
            let rsa13 = try await handshake(live, device) { $0.verifySignatureAlgorithms = [.rsaPssRsaeSha256] }
            #expect(rsa13.leaf == rsaLeaf && rsa13.version == .tlsv13)
            let ecdsa = try await handshake(live, device) { _ in }
            #expect(ecdsa.leaf == ecdsaLeaf)
        }
    }

    @Test func aTLS12OnlyPolicyRefusesTLS13AndCiphersOutsideItsList() async throws {
        try await LiveServer.with(configure: { $0.tlsSecurityPolicy = .tls13_1_2_2022_01 }) { live in
            let device = try await registeredDevice(live)
            #expect(try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = "AES128-SHA" }.version == .tlsv12)
            for outside in ["AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"] {
                await #expect(throws: (any Error).self, "\(outside) is not in TLS13_1_2_2022_01") {
                    try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = outside }
                }
            }
        }
        try await LiveServer.with(configure: { $0.tlsSecurityPolicy = .tls12_1_2_2022_10 }) { live in
            let device = try await registeredDevice(live)
            #expect(try await handshake(live, device) { _ in }.version == .tlsv12)
            await #expect(throws: (any Error).self, "no TLS 1.3 in TLS12_1_2_2022_10") {
                try await handshake(live, device) { $0.minimumTLSVersion = .tlsv13 }
            }
        }
        try await LiveServer.with(configure: { $0.tlsSecurityPolicy = .tls13_1_3_2022_10 }) { live in
            let device = try await registeredDevice(live)
            #expect(try await handshake(live, device) { _ in }.version == .tlsv13)
            await #expect(throws: (any Error).self, "no TLS 1.2 in TLS13_1_3_2022_10") {
                try await handshake(live, device) { $0.maximumTLSVersion = .tlsv12 }
            }
        }
    }

    // MARK: - helpers

    private func registeredDevice(_ live: LiveServer) async throws -> IssuedCredential {
        let credential = try live.pki.device("tls-probe")
        try await live.register(credential)
        return credential
    }

    private func handshake(_ live: LiveServer, _ device: IssuedCredential, configure: (inout TLSConfiguration) -> Void) async throws -> TLSProbe.Handshake {
        try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, configure: configure)
    }
}
