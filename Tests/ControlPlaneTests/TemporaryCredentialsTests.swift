@testable import ControlPlane
import Registry
import Foundation
import Testing

@Suite("Credentials provider: temporary credentials")
struct TemporaryCredentialsTests {
    let key = String(repeating: "ab", count: 32)

    @Test func aTokenStandsForItsCredentialUntilItExpires() throws {
        let issued = TemporaryCredentials.issue(signingKeyHex: key, roleAlias: "cams", thingName: "cam-1", duration: 900, now: 1_000)
        #expect(issued.accessKeyID.hasPrefix("ASIA") && issued.accessKeyID.count == 20)
        #expect(issued.secretAccessKey.count == 40)
        let verified = try #require(TemporaryCredentials.verify(sessionToken: issued.sessionToken, signingKeyHex: key, now: 1_899))
        #expect(verified == issued)
        #expect(TemporaryCredentials.verify(sessionToken: issued.sessionToken, signingKeyHex: key, now: 1_900) == nil, "expired")
    }

    @Test func anotherKeyOrAChangedTokenVerifiesNothing() {
        let issued = TemporaryCredentials.issue(signingKeyHex: key, roleAlias: "cams", thingName: nil, duration: 900, now: 1_000)
        #expect(TemporaryCredentials.verify(sessionToken: issued.sessionToken, signingKeyHex: String(repeating: "cd", count: 32), now: 1_000) == nil)
        var bytes = Array(issued.sessionToken)
        bytes[10] = bytes[10] == "A" ? "B" : "A"
        #expect(TemporaryCredentials.verify(sessionToken: String(bytes), signingKeyHex: key, now: 1_000) == nil)
        for garbage in ["", "PCT1.", "PCT1..", "x.y.z", String(repeating: "A", count: 5000)] {
            #expect(TemporaryCredentials.verify(sessionToken: garbage, signingKeyHex: key, now: 1_000) == nil)
        }
    }
}

@Suite("Credentials provider: data-plane keys admit tokens")
struct DataPlaneTemporaryKeyTests {
    @Test func anIssuedTokenVerifiesItsKeyWithTheRolesPolicy() throws {
        var state = RegistryState(arns: ARNs(region: "us-east-1", accountID: "123456789012"))
        _ = try state.createPolicy(name: "Role", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/telemetry/*"}]}"#, now: 1)
        _ = try state.createRoleAlias(name: "cams", roleArn: "arn:aws:iam::123456789012:role/Role", credentialDurationSeconds: nil, now: 1)
        let signingKey = state.credentialSigningKey()
        let keys = DataPlaneKeys()
        keys.update(from: state)
        let now = Int64(Date().timeIntervalSince1970)
        let issued = TemporaryCredentials.issue(signingKeyHex: signingKey, roleAlias: "cams", thingName: nil, duration: 900, now: now)
        #expect(keys.secret(for: issued.accessKeyID) == nil, "unknown until its token is seen")
        #expect(keys.admit(sessionToken: issued.sessionToken) == issued.accessKeyID)
        #expect(keys.secret(for: issued.accessKeyID) == issued.secretAccessKey)
        #expect(keys.roleAlias(ofTemporaryKey: issued.accessKeyID) == "cams")
        #expect(keys.authorize(issued.accessKeyID, .publish, resource: "telemetry/a", now: Date()).allowed)
        #expect(!keys.authorize(issued.accessKeyID, .publish, resource: "other/a", now: Date()).allowed)
        // The role's policy sees the thing and certificate the credentials were asked for.
        _ = try state.createThingType(name: "camera", description: nil, searchableAttributes: [], now: 1)
        _ = try state.createThing(name: "cam-1", thingTypeName: "camera", attributes: [:], now: 1)
        _ = try state.createPolicy(name: "Scoped", document: #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${credentials-iot:ThingTypeName}/${credentials-iot:ThingName}/${credentials-iot:AwsCertificateId}"}]}"#, now: 1)
        _ = try state.createRoleAlias(name: "scoped", roleArn: "arn:aws:iam::123456789012:role/Scoped", credentialDurationSeconds: nil, now: 1)
        keys.update(from: state)
        let scoped = TemporaryCredentials.issue(signingKeyHex: signingKey, roleAlias: "scoped", thingName: "cam-1", certificateID: "abc123",
                                                duration: 900, now: now)
        keys.admit(sessionToken: scoped.sessionToken)
        #expect(keys.temporaryRole(scoped.accessKeyID)?.variables == ["credentials-iot:ThingName": "cam-1", "credentials-iot:ThingTypeName": "camera",
                                                                     "credentials-iot:AwsCertificateId": "abc123"])
        #expect(keys.authorize(scoped.accessKeyID, .publish, resource: "camera/cam-1/abc123", now: Date()).allowed)
        #expect(!keys.authorize(scoped.accessKeyID, .publish, resource: "camera/cam-2/abc123", now: Date()).allowed)
        // Without a thing the variables are missing, and a resource that names them matches nothing.
        let unscoped = TemporaryCredentials.issue(signingKeyHex: signingKey, roleAlias: "scoped", thingName: nil, certificateID: "abc123",
                                                  duration: 900, now: now)
        keys.admit(sessionToken: unscoped.sessionToken)
        #expect(!keys.authorize(unscoped.accessKeyID, .publish, resource: "camera/cam-1/abc123", now: Date()).allowed)
        // The alias deleted: its credentials are allowed nothing.
        try state.deleteRoleAlias(name: "cams")
        keys.update(from: state)
        #expect(!keys.authorize(issued.accessKeyID, .publish, resource: "telemetry/a", now: Date()).allowed)
    }
}
