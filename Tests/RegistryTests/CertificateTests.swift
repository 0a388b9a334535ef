import DeviceIdentity
import Foundation
@testable import Registry
import Testing
import X509

/// Certificates and CA certificates: AWS's preconditions, each rule with its refusal (reference 2.1, 2.2).
@Suite("Registry: certificates")
struct CertificateTests {
    let local: CertificateAuthority
    let arns = ARNs(region: "eu-west-1", accountID: "123456789012")

    init() throws {
        local = try CertificateAuthority.makeRoot(commonName: "Local CA", notBefore: Date().addingTimeInterval(-86_400))
    }

    func state() -> RegistryState { RegistryState(arns: arns, localCA: local.certificate) }
    func device(_ ca: CertificateAuthority, _ name: String = "d") throws -> IssuedCredential {
        try ca.issueClientCertificate(commonName: name, notBefore: Date().addingTimeInterval(-3600), validity: 86_400)
    }

    @Test func aCertificateFromTheLocalCARegistersUnderNoCAAndItsIDIsTheSHA256OfItsDER() throws {
        var s = state()
        let credential = try device(local)
        let registered = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: nil, setAsActive: nil, now: 1)
        #expect(registered.certificateID == credential.certificateID && registered.certificateID.count == 64)
        #expect(registered.status == .inactive, "INACTIVE unless asked")
        #expect(registered.caCertificateID == nil && registered.mode == .default)
        let again = refusalError { _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 2) }
        #expect(again?.code == .resourceAlreadyExists && again?.resourceID == credential.certificateID)
        #expect(again?.resourceARN == "arn:aws:iot:eu-west-1:123456789012:cert/\(credential.certificateID)")
    }

    @Test func aCertificateFromAnUnregisteredCAIsRefusedUnlessRegisteredWithoutCA() throws {
        var s = state()
        let foreign = try CertificateAuthority.makeRoot(commonName: "Elsewhere", notBefore: Date().addingTimeInterval(-86_400))
        let credential = try device(foreign)
        #expect(refusal { _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: nil, setAsActive: nil, now: 1) } == .certificateValidation)
        #expect(refusal { _ = try s.registerCertificate(pem: credential.certificatePEM, caPEM: foreign.certificatePEM, status: nil, setAsActive: nil, now: 1) } == .certificateValidation)
        let registered = try s.registerCertificateWithoutCA(pem: credential.certificatePEM, status: "ACTIVE", now: 1)
        #expect(registered.mode == .sniOnly && registered.status == .active && registered.caCertificateID == nil)
    }

    @Test(arguments: ["", "not a pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
    func badPEMIsACertificateValidationError(_ pem: String) {
        var s = state()
        #expect(refusal { _ = try s.registerCertificateWithoutCA(pem: pem, status: nil, now: 1) } == .certificateValidation)
    }

    @Test func twoCertificatesInOnePEMAreRefused() throws {
        var s = state()
        let pem = try device(local, "a").certificatePEM + device(local, "b").certificatePEM
        #expect(refusal { _ = try s.registerCertificateWithoutCA(pem: pem, status: nil, now: 1) } == .certificateValidation)
    }

    @Test(arguments: ["PENDING_TRANSFER", "PENDING_ACTIVATION", "active", "BOGUS"])
    func statusesUsersMayNotSetAreRefused(_ status: String) throws {
        var s = state()
        let registered = try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1)
        #expect(refusal { try s.updateCertificate(id: registered.certificateID, newStatus: status, now: 2) } == .invalidRequest)
        #expect(refusal { _ = try s.registerCertificateWithoutCA(pem: try device(local, "x").certificatePEM, status: status, now: 1) } == .invalidRequest)
    }

    @Test func revokedIsFinal() throws {
        var s = state()
        let id = try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1).certificateID
        try s.updateCertificate(id: id, newStatus: "INACTIVE", now: 2)
        try s.updateCertificate(id: id, newStatus: "REVOKED", now: 3)
        #expect(try s.certificate(id: id).status == .revoked && s.certificate(id: id).customerVersion == 3)
        #expect(refusal { try s.updateCertificate(id: id, newStatus: "ACTIVE", now: 4) } == .certificateState)
        try s.updateCertificate(id: id, newStatus: "REVOKED", now: 5)
    }

    @Test func idsAreCheckedAndCaseInsensitive() throws {
        var s = state()
        let id = try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: nil, setAsActive: true, now: 1).certificateID
        #expect(try s.certificate(id: id.uppercased()).certificateID == id)
        #expect(refusal { _ = try s.certificate(id: "abc") } == .invalidRequest)
        #expect(refusal { _ = try s.certificate(id: String(repeating: "0", count: 64)) } == .resourceNotFound)
    }

    @Test func deleteNeedsAnInactiveCertificateWithoutThingsAndPoliciesOnlyWithForce() throws {
        var s = state()
        let id = try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1).certificateID
        let arn = arns.certificate(id)
        _ = try s.createThing(name: "t", thingTypeName: nil, attributes: [:], now: 1)
        _ = try s.createPolicy(name: "p", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 1)
        try s.attachThingPrincipal(thingName: "t", principal: arn, type: .nonExclusive)
        try s.attachPolicy(name: "p", target: arn)
        #expect(refusal { try s.deleteCertificate(id: id, forceDelete: true) } == .certificateState)
        try s.updateCertificate(id: id, newStatus: "INACTIVE", now: 2)
        #expect(refusal { try s.deleteCertificate(id: id, forceDelete: true) } == .deleteConflict, "a thing is attached")
        #expect(refusal { try s.deleteThing(name: "t", expectedVersion: nil) } == .invalidRequest, "a thing with principals stays")
        try s.detachThingPrincipal(thingName: "t", principal: arn)
        #expect(refusal { try s.deleteCertificate(id: id, forceDelete: false) } == .deleteConflict, "a policy is attached")
        #expect(refusal { try s.deletePolicy(name: "p") } == .deleteConflict, "an attached policy stays")
        try s.deleteCertificate(id: id, forceDelete: true)
        #expect(refusal { _ = try s.certificate(id: id) } == .resourceNotFound)
        #expect(try s.listTargetsForPolicy(name: "p", marker: nil, pageSize: nil).targets.isEmpty)
        try s.deletePolicy(name: "p")
    }

    @Test func listingPagesNewestFirstAndByCA() throws {
        var s = state()
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(try s.registerCertificate(pem: try device(local, "d\(index)").certificatePEM, caPEM: nil, status: nil, setAsActive: nil,
                                                 now: Double(index)).certificateID)
        }
        let first = try s.listCertificates(caCertificateID: nil, marker: nil, pageSize: 2, ascending: false)
        #expect(first.certificates.map(\.certificateID) == [ids[4], ids[3]])
        let second = try s.listCertificates(caCertificateID: nil, marker: first.nextMarker, pageSize: 10, ascending: false)
        #expect(second.certificates.map(\.certificateID) == [ids[2], ids[1], ids[0]] && second.nextMarker == nil)
        #expect(refusal { _ = try s.listCertificates(caCertificateID: nil, marker: nil, pageSize: 251, ascending: true) } == .invalidRequest)
        // Without a page size, AWS's default of 25.
        for index in 5..<30 {
            _ = try s.registerCertificate(pem: try device(local, "d\(index)").certificatePEM, caPEM: nil, status: nil, setAsActive: nil, now: Double(index))
        }
        let defaulted = try s.listCertificates(caCertificateID: nil, marker: nil, pageSize: nil, ascending: true)
        #expect(defaulted.certificates.count == 25 && defaulted.nextMarker != nil)
        #expect(refusal { _ = try s.listCertificates(caCertificateID: String(repeating: "a", count: 64), marker: nil, pageSize: nil, ascending: true) } == .resourceNotFound)
    }

    // MARK: CA certificates

    @Test func aCAInDefaultModeProvesPossessionWithTheRegistrationCode() throws {
        var s = state()
        let ca = try CertificateAuthority.makeRoot(commonName: "Fleet CA", notBefore: Date().addingTimeInterval(-86_400))
        let code = s.obtainRegistrationCode()
        #expect(code.count == 64 && s.obtainRegistrationCode() == code, "the same code until deleted")
        let wrong = try device(ca, "not-the-code")
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: wrong.certificatePEM, setAsActive: true,
                                                          allowAutoRegistration: false, mode: nil, now: 1) } == .registrationCodeValidation)
        let otherCA = try CertificateAuthority.makeRoot(commonName: "Other", notBefore: Date().addingTimeInterval(-86_400))
        let signedByOther = try device(otherCA, code)
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: signedByOther.certificatePEM, setAsActive: true,
                                                          allowAutoRegistration: false, mode: nil, now: 1) } == .certificateValidation)
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true,
                                                          allowAutoRegistration: false, mode: "DEFAULT", now: 1) } == .invalidRequest)
        let proof = try device(ca, code)
        let record = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: proof.certificatePEM, setAsActive: false,
                                                 allowAutoRegistration: true, mode: nil, now: 1)
        #expect(record.mode == .default && record.status == .inactive && record.autoRegistration)
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: proof.certificatePEM, setAsActive: false,
                                                          allowAutoRegistration: false, mode: nil, now: 2) } == .resourceAlreadyExists)

        // Device certificates it signed register only once it is ACTIVE, and inherit its mode.
        let member = try device(ca, "member")
        #expect(refusal { _ = try s.registerCertificate(pem: member.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 2) } == .certificateState)
        try s.updateCACertificate(id: record.certificateID, newStatus: "ACTIVE", newAutoRegistrationStatus: nil, removeAutoRegistration: false, now: 3)
        let registered = try s.registerCertificate(pem: member.certificatePEM, caPEM: ca.certificatePEM, status: "ACTIVE", setAsActive: nil, now: 3)
        #expect(registered.caCertificateID == record.certificateID && registered.mode == .default)
        #expect(try s.listCertificates(caCertificateID: record.certificateID, marker: nil, pageSize: nil, ascending: true).certificates.map(\.certificateID)
                == [registered.certificateID])

        // Deletion: not while ACTIVE, not while certificates remain under it.
        #expect(refusal { try s.deleteCACertificate(id: record.certificateID) } == .certificateState)
        try s.updateCACertificate(id: record.certificateID, newStatus: "INACTIVE", newAutoRegistrationStatus: nil, removeAutoRegistration: false, now: 4)
        #expect(refusal { try s.deleteCACertificate(id: record.certificateID) } == .certificateState)
        try s.updateCertificate(id: registered.certificateID, newStatus: "INACTIVE", now: 5)
        try s.deleteCertificate(id: registered.certificateID, forceDelete: false)
        try s.deleteCACertificate(id: record.certificateID)
    }

    @Test func sniOnlyNeedsNoProofAndTakesNone() throws {
        var s = state()
        let ca = try CertificateAuthority.makeRoot(commonName: "Shared CA", notBefore: Date().addingTimeInterval(-86_400))
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: try device(ca, "x").certificatePEM, setAsActive: true,
                                                          allowAutoRegistration: false, mode: "SNI_ONLY", now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true,
                                                          allowAutoRegistration: false, mode: "BOTH", now: 1) } == .invalidRequest)
        let record = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true, allowAutoRegistration: false, mode: nil, now: 1)
        #expect(record.mode == .sniOnly && record.status == .active)
        #expect(refusal { try s.updateCACertificate(id: record.certificateID, newStatus: "REVOKED", newAutoRegistrationStatus: nil,
                                                    removeAutoRegistration: false, now: 2) } == .invalidRequest)
        #expect(refusal { try s.updateCACertificate(id: record.certificateID, newStatus: nil, newAutoRegistrationStatus: "ON",
                                                    removeAutoRegistration: false, now: 2) } == .invalidRequest)
    }

    @Test func aCertificateIsEitherADeviceCertificateOrACA() throws {
        var s = state()
        let ca = try CertificateAuthority.makeRoot(commonName: "Both", notBefore: Date().addingTimeInterval(-86_400))
        _ = try s.registerCertificateWithoutCA(pem: ca.certificatePEM, status: nil, now: 1)
        #expect(refusal { _ = try s.registerCACertificate(pem: ca.certificatePEM, verificationPEM: nil, setAsActive: true,
                                                          allowAutoRegistration: false, mode: "SNI_ONLY", now: 1) } == .resourceAlreadyExists)
    }

    @Test func aDeviceCertificateIsNotACA() throws {
        var s = state()
        #expect(refusal { _ = try s.registerCACertificate(pem: try device(local).certificatePEM, verificationPEM: nil, setAsActive: true,
                                                          allowAutoRegistration: false, mode: "SNI_ONLY", now: 1) } == .certificateValidation)
    }

    // MARK: attachments

    @Test func policiesAttachToCertificatesUpToTen() throws {
        var s = state()
        let arn = arns.certificate(try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: nil, setAsActive: nil, now: 1).certificateID)
        for index in 0..<11 { _ = try s.createPolicy(name: "p\(index)", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: Double(index)) }
        for index in 0..<10 { try s.attachPolicy(name: "p\(index)", target: arn) }
        try s.attachPolicy(name: "p0", target: arn)
        #expect(refusal { try s.attachPolicy(name: "p10", target: arn) } == .limitExceeded)
        #expect(try s.listAttachedPolicies(target: arn, marker: nil, pageSize: nil).policies.count == 10)
        #expect(try s.listAttachedPolicies(target: arn, marker: nil, pageSize: 2, ascending: false).policies.map(\.name) == ["p9", "p8"])
        #expect(try s.listAttachedPolicies(target: arn, marker: nil, pageSize: 2).policies.map(\.name) == ["p0", "p1"])
        #expect(refusal { try s.attachPolicy(name: "nope", target: arn) } == .resourceNotFound)
        #expect(refusal { try s.attachPolicy(name: "p0", target: "arn:aws:iot:us-east-1:999999999999:cert/\(String(repeating: "a", count: 64))") } == .invalidRequest)
        #expect(refusal { try s.attachPolicy(name: "p0", target: arns.certificate(String(repeating: "a", count: 64))) } == .resourceNotFound)
        try s.detachPolicy(name: "p0", target: arn)
        #expect(try s.listTargetsForPolicy(name: "p0", marker: nil, pageSize: nil).targets.isEmpty)
        #expect(try s.listTargetsForPolicy(name: "p1", marker: nil, pageSize: nil).targets == [arn])
    }

    @Test func anExclusivePrincipalBelongsToOneThing() throws {
        var s = state()
        let arn = arns.certificate(try s.registerCertificate(pem: try device(local).certificatePEM, caPEM: nil, status: nil, setAsActive: nil, now: 1).certificateID)
        for name in ["a", "b"] { _ = try s.createThing(name: name, thingTypeName: nil, attributes: [:], now: 1) }
        try s.attachThingPrincipal(thingName: "a", principal: arn, type: .exclusive)
        #expect(refusal { try s.attachThingPrincipal(thingName: "b", principal: arn, type: .nonExclusive) } == .invalidRequest)
        try s.detachThingPrincipal(thingName: "a", principal: arn)
        try s.attachThingPrincipal(thingName: "a", principal: arn, type: .nonExclusive)
        try s.attachThingPrincipal(thingName: "b", principal: arn, type: .nonExclusive)
        #expect(refusal { try s.attachThingPrincipal(thingName: "a", principal: arn, type: .exclusive) } == .invalidRequest)
        #expect(try s.listPrincipalThings(principal: arn, nextToken: nil, maxResults: nil).things.map(\.thingName) == ["a", "b"])
        #expect(try s.listThingPrincipals(thingName: "b", nextToken: nil, maxResults: nil).principals.map(\.principal) == [arn])
        #expect(refusal { try s.attachThingPrincipal(thingName: "missing", principal: arn, type: .nonExclusive) } == .resourceNotFound)
    }
}

/// The refusal itself (for its resource id and ARN), nil if the operation succeeded.
func refusalError(_ body: () throws -> Void) -> RegistryError? {
    do { try body() } catch let error as RegistryError { return error } catch { return nil }
    return nil
}
