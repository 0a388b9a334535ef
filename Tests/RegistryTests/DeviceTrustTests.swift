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
        var leaves: [String: DeviceTrust.LeafKey] = [:]
        return DeviceTrust(state: state, parsedCAs: &cache, leafKeys: &leaves)
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

    // MARK: revocation lists

    func crl(_ ca: CertificateAuthority, _ revoked: [IssuedCredential], at: Date = Date(), number: Int = 1) throws -> CertificateRevocationList {
        try ca.makeRevocationList(revoking: revoked.map(\.certificate.serialNumber), thisUpdate: at, nextUpdate: at.addingTimeInterval(86_400),
                                  crlNumber: number)
    }

    @Test func aSerialOnTheCAsListIsRefusedEvenWhenRegisteredActive() async throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let ca = try CertificateAuthority.makeRoot(commonName: "Fleet CA", notBefore: Date().addingTimeInterval(-86_400))
        let record = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true, allowAutoRegistration: true,
                                                 mode: nil, now: 1)
        let revoked = try device(ca, "revoked"), kept = try device(ca, "kept"), unregistered = try device(ca, "new")
        for credential in [revoked, kept] {
            _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1)
        }
        _ = try s.putRevocationList(caCertificateID: record.certificateID, crl: try crl(ca, [revoked, unregistered]), now: 2)
        let t = trust(s)
        #expect(code(await t.authenticate(derChain: try der(revoked), at: Date())) == .revokedByCRL)
        #expect(!t.allowsConnection(certificateID: revoked.certificateID), "its live connections close")
        #expect(code(await t.authenticate(derChain: try der(kept), at: Date())) == nil)
        #expect(t.allowsConnection(certificateID: kept.certificateID))
        #expect(code(await t.authenticate(derChain: try der(unregistered), at: Date())) == .revokedByCRL, "not auto-registered either")
        try s.deleteRevocationList(caCertificateID: record.certificateID)
        #expect(code(await trust(s).authenticate(derChain: try der(revoked), at: Date())) == nil, "deleting the list lifts it")
    }

    @Test func theGatewaysOwnCAsListAppliesToTheCertificatesItIssued() async throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let credential = try device(local)
        _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1)
        _ = try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [credential]), now: 2)
        #expect(code(await trust(s).authenticate(derChain: try der(credential), at: Date())) == .revokedByCRL)
    }

    @Test func aListMustBeSignedByItsCAAndNotOlderThanTheOneInPlace() throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let other = try CertificateAuthority.makeRoot(commonName: "Local CA", notBefore: Date().addingTimeInterval(-86_400))  // same name
        let victim = try device(local)
        #expect(throws: RegistryError.self, "signed by another key") {
            try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(other, [victim]), now: 1)
        }
        #expect(throws: RegistryError.self, "no such CA") {
            try s.putRevocationList(caCertificateID: String(repeating: "ab", count: 32), crl: try crl(local, [victim]), now: 1)
        }
        let now = Date()
        _ = try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [victim], at: now, number: 5), now: 1)
        #expect(throws: RegistryError.self, "older thisUpdate") {
            try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [], at: now.addingTimeInterval(-60), number: 6), now: 2)
        }
        #expect(throws: RegistryError.self, "lower CRL number") {
            try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [], at: now.addingTimeInterval(60), number: 4), now: 2)
        }
        #expect(try s.revocationList(caCertificateID: local.certificateID).revokedSerials.count == 1, "the refused uploads changed nothing")
        let newer = try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [], at: now.addingTimeInterval(60), number: 6), now: 3)
        #expect(newer.revokedSerials.isEmpty && newer.crlNumber == "06")
    }

    @Test func theListSurvivesAStoreRoundTrip() throws {
        var s = RegistryState(arns: arns, localCA: local.certificate)
        let victim = try device(local)
        let record = try s.putRevocationList(caCertificateID: local.certificateID, crl: try crl(local, [victim]), now: 1)
        let changes = s.changes(since: RegistryState(arns: arns, localCA: local.certificate))
        let loaded = try RegistryState(arns: arns, localCA: local.certificate, records: changes.upserts)
        #expect(try loaded.revocationList(caCertificateID: local.certificateID) == record)
    }
}
