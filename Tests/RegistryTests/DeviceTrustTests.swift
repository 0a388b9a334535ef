import DeviceIdentity
import Foundation
@testable import Registry
import SwiftASN1
import Testing
import X509

/// Who the gateway admits, decided from a registry snapshot: registered and ACTIVE, under an ACTIVE CA.
@Suite("Registry: device trust at the handshake")
struct DeviceTrustTests {
    let local: CertificateAuthority
    let arns = ARNs(region: "eu-west-1", accountID: "123456789012")

    init() throws {
        local = try CertificateAuthority.makeRoot(commonName: "Local CA", notBefore: Date().addingTimeInterval(-86_400))
    }

    func device(_ ca: CertificateAuthority, _ name: String = "d", notBefore: Date = Date().addingTimeInterval(-3600)) throws -> IssuedCredential {
        try ca.issueClientCertificate(commonName: name, notBefore: notBefore, validity: 86_400)
    }

    func trust(_ state: RegistryState) -> DeviceTrust {
        var cache: [String: Certificate] = [:]
        return DeviceTrust(state: state, parsedCAs: &cache)
    }

    func der(_ credential: IssuedCredential) throws -> [[UInt8]] {
        var serializer = DER.Serializer()
        try serializer.serialize(credential.certificate)
        return [serializer.serializedBytes]
    }

    func code(_ decision: DeviceTrust.Decision) -> ClientRejection.Code? { decision.rejection?.code }

    @Test func onlyRegisteredActiveCertificatesAreAccepted() async throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let credential = try device(local)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == .notRegistered)
        _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: "INACTIVE", setAsActive: nil, now: 1)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == .notActive)
        #expect(!trust(s).allowsConnection(certificateID: credential.certificateID))
        try s.updateCertificate(id: credential.certificateID, newStatus: "ACTIVE", now: 2)
        guard case .accepted(let id) = await trust(s).authenticate(derChain: try der(credential), at: Date()) else {
            Issue.record("not accepted")
            return
        }
        #expect(id == credential.certificateID && trust(s).allowsConnection(certificateID: id))
        // Registered and ACTIVE is not enough when the dates are wrong.
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date().addingTimeInterval(2 * 86_400))) == .expired)
        try s.updateCertificate(id: id, newStatus: "REVOKED", now: 3)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == .notActive)
        #expect(!trust(s).allowsConnection(certificateID: id))
    }

    @Test func aForeignCertificateIsUntrustedUntilRegisteredWithoutCA() async throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let foreign = try CertificateAuthority.makeRoot(commonName: "Elsewhere", notBefore: Date().addingTimeInterval(-86_400))
        let credential = try device(foreign)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == .untrustedIssuer)
        _ = try s.registerCertificateWithoutCA(pem: credential.certificatePEM, status: "ACTIVE", now: 1)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == nil)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date().addingTimeInterval(-7200))) == .notYetValid)
    }

    @Test func deactivatingTheCAStopsItsCertificatesAndAutoRegistrationRegistersPending() async throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let ca = try CertificateAuthority.makeRoot(commonName: "Fleet CA", notBefore: Date().addingTimeInterval(-86_400))
        let record = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true, allowAutoRegistration: true,
                                                 mode: nil, now: 1)
        let member = try device(ca, "member")
        _ = try s.registerCertificate(pem: member.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1)
        #expect(code(await trust(s).authenticate(derChain: try der(member), at: Date())) == nil)

        let newcomer = try device(ca, "newcomer")
        guard case .pendingActivation(_, let caID, let register, let rejection) = await trust(s).authenticate(derChain: try der(newcomer), at: Date()),
              let parsed = register else {
            Issue.record("no auto-registration")
            return
        }
        #expect(caID == record.certificateID && rejection.code == .notActive)
        #expect(s.autoRegister(parsed, caCertificateID: caID, now: 2)?.status == .pendingActivation)
        #expect(s.autoRegister(parsed, caCertificateID: caID, now: 3) == nil, "only once")
        guard case .pendingActivation(let id, _, nil, _) = await trust(s).authenticate(derChain: try der(newcomer), at: Date()) else {
            Issue.record("a pending certificate presented again is announced, not registered again")
            return
        }
        #expect(id == newcomer.certificateID)

        try s.updateCACertificate(id: record.certificateID, newStatus: "INACTIVE", newAutoRegistrationStatus: nil, removeAutoRegistration: false, now: 4)
        #expect(code(await trust(s).authenticate(derChain: try der(member), at: Date())) == .caNotActive)
        #expect(!trust(s).allowsConnection(certificateID: member.certificateID))
        let third = try device(ca, "third")
        #expect(code(await trust(s).authenticate(derChain: try der(third), at: Date())) == .notRegistered, "no auto-registration by an inactive CA")
    }
}
