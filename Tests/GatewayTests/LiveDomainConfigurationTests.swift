import DeviceIdentity
import Foundation
import MQTTCore
import NIOSSL
import PortcullisServer
import PortcullisTesting
import Registry
import Testing

/// SNI picks the domain configuration: its certificate and security policy, or a refusal; changes and
/// rotations apply to the next handshake without a restart.
@Suite("Live: domain configurations and certificate rotation", .serialized)
struct LiveDomainConfigurationTests {
    func importCertificate(_ live: LiveServer, _ credential: IssuedCredential, arn: String? = nil) async throws -> String {
        let now = Date().timeIntervalSince1970
        let record = try await live.server.registry.perform { state throws(RegistryError) in
            try state.importServerCertificate(certificate: Array(credential.certificatePEM.utf8), privateKey: Array(credential.privateKeyPEM.utf8),
                                              chain: nil, arn: arn, now: now)
        }
        return await live.server.registry.arns.acmCertificate(record.id)
    }

    func serverCertificate(_ live: LiveServer, _ name: String) throws -> IssuedCredential {
        try live.pki.authority.issueServerCertificate(dnsNames: [name], commonName: name, notBefore: Date().addingTimeInterval(-60), validity: 86_400)
    }

    func leaf(_ pem: String) throws -> NIOSSLCertificate { try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8))[0] }

    func update(_ live: LiveServer, _ name: String, _ change: (inout DomainConfigurationInput) -> Void) async throws {
        var input = DomainConfigurationInput()
        change(&input)
        let update = input
        let now = Date().timeIntervalSince1970
        _ = try await live.server.registry.perform { state throws(RegistryError) in try state.updateDomainConfiguration(name: name, update, now: now) }
    }

    @Test func theServerNamePicksTheDomainsCertificateAndPolicy() async throws {
        try await LiveServer.with { live in
            let device = try live.pki.device("sni")
            try await live.register(device)
            let custom = try serverCertificate(live, "iot.example.com")
            let arn = try await importCertificate(live, custom)
            var input = DomainConfigurationInput()
            input.domainName = "iot.example.com"
            input.serverCertificateArns = [arn]
            input.securityPolicy = "IoTSecurityPolicy_TLS12_1_2_2022_10"
            let create = input
            let now = Date().timeIntervalSince1970
            _ = try await live.server.registry.perform { state throws(RegistryError) in try state.createDomainConfiguration(name: "custom", create, now: now) }

            let viaDomain = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "iot.example.com")
            #expect(viaDomain.leaf == (try leaf(custom.certificatePEM)))
            #expect(viaDomain.version == .tlsv12, "the domain's TLS12_1_2_2022_10 policy")
            let byDefault = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "localhost")
            #expect(byDefault.leaf == (try leaf(live.server.preparation.serverCertificatePEM)))
            #expect(byDefault.version == .tlsv13)
            let noSNI = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: nil)
            #expect(noSNI.leaf == byDefault.leaf, "no SNI gets the default domain")
            let unknown = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "elsewhere.example.net") {
                $0.certificateVerification = .noHostnameVerification
            }
            #expect(unknown.leaf == byDefault.leaf, "an unknown name falls back to the default without strict SNI")

            // Disabled: refused, and the log says why; enabled again: served again.
            try await update(live, "custom") { $0.status = "DISABLED" }
            await #expect(throws: (any Error).self) {
                try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "iot.example.com")
            }
            let refusal = await live.events.waitFor { $0.eventType == .connect && ($0.details ?? "").contains("DISABLED") }
            #expect(refusal != nil)
            try await update(live, "custom") { $0.status = "ENABLED" }
            _ = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "iot.example.com")

            // Rotation: a re-import under the same ARN serves the new certificate on the next handshake, while a
            // connection made before stays up.
            let before = try await live.client("kept", credential: device, register: false)
            #expect(try await before.connect(clientID: "kept").reasonCode == .success)
            let rotated = try serverCertificate(live, "iot.example.com")
            _ = try await importCertificate(live, rotated, arn: arn)
            let after = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "iot.example.com")
            #expect(after.leaf == (try leaf(rotated.certificatePEM)))
            #expect(try await before.subscribe("still/up").reasonCodes == [.grantedQoS1], "the earlier connection is untouched")

            // The default domain's policy, changed live.
            try await update(live, "iot:Data-ATS") { $0.securityPolicy = "IoTSecurityPolicy_TLS12_1_2_2022_10" }
            #expect(try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device).version == .tlsv12)
            await before.close()
        }
    }

    @Test func strictSNIRefusesMissingAndUnknownNames() async throws {
        try await LiveServer.with(configure: { $0.strictSNI = true }) { live in
            let device = try live.pki.device("strict")
            try await live.register(device)
            _ = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "localhost")
            await #expect(throws: (any Error).self, "no SNI") {
                try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: nil)
            }
            await #expect(throws: (any Error).self, "a name the gateway does not serve") {
                try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device, serverHostname: "elsewhere.example.net") {
                    $0.certificateVerification = .noHostnameVerification
                }
            }
        }
    }

    @Test func replacingTheDefaultCertificateFilesRotatesWithoutARestart() async throws {
        try await LiveServer.with { live in
            let device = try live.pki.device("rotate")
            try await live.register(device)
            let data = live.server.dataDirectory
            let before = try await live.client("before", credential: device, register: false)
            #expect(try await before.connect(clientID: "before").reasonCode == .success)
            #expect(live.server.certificateReloader.check() == .unchanged)

            // A broken pair (the key of another certificate) is refused; the old certificate stays in service.
            let fresh = try live.pki.authority.issueServerCertificate(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], commonName: "rotated",
                                                                      notBefore: Date().addingTimeInterval(-60), validity: 86_400)
            let other = try serverCertificate(live, "localhost")
            try fresh.certificatePEM.write(toFile: data.serverCertificatePath, atomically: true, encoding: .utf8)
            try other.privateKeyPEM.write(toFile: data.serverKeyPath, atomically: true, encoding: .utf8)
            guard case .refused = live.server.certificateReloader.check() else {
                Issue.record("a mismatched key must be refused")
                return
            }
            let still = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device)
            #expect(still.leaf == (try leaf(live.server.preparation.serverCertificatePEM)))

            try fresh.privateKeyPEM.write(toFile: data.serverKeyPath, atomically: true, encoding: .utf8)
            #expect(live.server.certificateReloader.check() == .reloaded)
            let after = try await TLSProbe.handshake(port: live.port, caPEM: live.caPEM, device: device)
            #expect(after.leaf == (try leaf(fresh.certificatePEM)))
            #expect(try await before.subscribe("still/up").reasonCodes == [.grantedQoS1], "connected clients stay connected")
            await before.close()
        }
    }
}
