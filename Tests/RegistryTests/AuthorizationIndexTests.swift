import DeviceIdentity
import Foundation
@testable import Registry
import Testing

/// The index the gateway authorizes connections with must give exactly what the registry's own scans
/// give (TestAuthorization uses those), for every certificate and client id.
@Suite("Registry: authorization index")
struct AuthorizationIndexTests {
    @Test func theIndexGivesTheSameThingsAndPoliciesAsTheScans() throws {
        let ca = try CertificateAuthority.makeRoot(commonName: "Local CA", notBefore: Date().addingTimeInterval(-86_400))
        var state = RegistryState(arns: ARNs(region: "eu-west-1", accountID: "123456789012"), localCA: ca.certificate)
        let document = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
        var certificates: [String] = []
        for n in 0..<4 {
            let credential = try ca.issueClientCertificate(commonName: "d\(n)", notBefore: Date().addingTimeInterval(-60), validity: 3600)
            certificates.append(try state.registerCertificate(pem: credential.certificatePEM, caPEM: nil, status: "ACTIVE", setAsActive: nil, now: 1).certificateID)
        }
        for name in ["p-cert", "p-parent", "p-child", "p-unused"] { _ = try state.createPolicy(name: name, document: document, now: 1) }
        _ = try state.createThingGroup(name: "parent", parentName: nil, description: nil, attributes: [:], now: 1)
        _ = try state.createThingGroup(name: "child", parentName: "parent", description: nil, attributes: [:], now: 1)
        try state.attachPolicy(name: "p-parent", target: state.arns.thingGroup("parent"))
        try state.attachPolicy(name: "p-child", target: state.arns.thingGroup("child"))
        try state.attachPolicy(name: "p-cert", target: state.arns.certificate(certificates[0]))
        try state.attachPolicy(name: "p-cert", target: state.arns.certificate(certificates[1]))
        for thing in ["alpha", "beta", "gamma"] { _ = try state.createThing(name: thing, thingTypeName: nil, attributes: [:], now: 1) }
        try state.addThingToThingGroup(thingName: "alpha", groupName: "child")
        try state.attachThingPrincipal(thingName: "alpha", principal: state.arns.certificate(certificates[0]), type: .nonExclusive)
        try state.attachThingPrincipal(thingName: "beta", principal: state.arns.certificate(certificates[0]), type: .nonExclusive)
        try state.attachThingPrincipal(thingName: "gamma", principal: state.arns.certificate(certificates[2]), type: .exclusive)
        try state.addThingToThingGroup(thingName: "gamma", groupName: "parent")

        let index = AuthorizationIndex(state)
        for certificate in certificates {
            for clientID in [nil, "alpha", "beta", "gamma", "nobody"] {
                let scanned = state.effectivePolicies(certificateID: certificate, clientID: clientID).map(\.name)
                let indexed = state.effectivePolicies(certificateID: certificate, clientID: clientID, index: index).map(\.name)
                #expect(scanned == indexed, "\(certificate.prefix(8)) \(clientID ?? "-")")
                #expect(state.connectedThing(certificateID: certificate, clientID: clientID)?.name
                        == state.connectedThing(certificateID: certificate, clientID: clientID, index: index)?.name)
            }
        }
        // And the cases mean something: group policies with the thing name, ancestors included.
        #expect(state.effectivePolicies(certificateID: certificates[0], clientID: "alpha", index: index).map(\.name) == ["p-cert", "p-child", "p-parent"])
        #expect(state.effectivePolicies(certificateID: certificates[0], clientID: "beta", index: index).map(\.name) == ["p-cert"])
        #expect(state.effectivePolicies(certificateID: certificates[2], clientID: "gamma", index: index).map(\.name) == ["p-parent"])
        #expect(state.effectivePolicies(certificateID: certificates[2], clientID: "other", index: index).isEmpty,
                "an exclusive thing's groups apply only when the client id is its name")
        #expect(state.connectedThing(certificateID: certificates[2], clientID: "other", index: index)?.name == "gamma")
    }
}
