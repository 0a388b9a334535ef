@testable import Registry
import Testing

@Suite("Registry: policies and their versions")
struct PolicyTests {
    let document = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#
    func state() -> RegistryState { RegistryState(arns: ARNs(region: "eu-west-1", accountID: "123456789012")) }


    @Test func createGetAndTheARN() throws {
        var s = state()
        let policy = try s.createPolicy(name: "p1", document: document, now: 100)
        #expect(policy.defaultVersionID == "1" && policy.versions.count == 1)
        #expect(try s.policy(named: "p1").defaultVersion.document == document)
        #expect(s.arns.policy("p1") == "arn:aws:iot:eu-west-1:123456789012:policy/p1")
        #expect(refusal { _ = try s.createPolicy(name: "p1", document: document, now: 101) } == .resourceAlreadyExists)
        #expect(refusal { _ = try s.policy(named: "nope") } == .resourceNotFound)
    }

    @Test(arguments: ["", String(repeating: "a", count: 129), "bad name", "slash/name", "ünïcode"])
    func badNamesAreInvalidRequests(_ name: String) {
        var s = state()
        #expect(refusal { _ = try s.createPolicy(name: name, document: document, now: 1) } == .invalidRequest)
    }

    @Test(arguments: ["", "   ", "not json", "[1,2]", "{\"a\":", "\"string\""])
    func documentsThatAreNotJSONObjectsAreMalformed(_ text: String) {
        var s = state()
        #expect(refusal { _ = try s.createPolicy(name: "p", document: text, now: 1) } == .malformedPolicy)
    }

    @Test func theSizeLimitCountsCharactersWithoutWhiteSpace() throws {
        var s = state()
        func document(sid: String) -> String { #"{"Statement":{"Sid":""# + sid + #"","Effect":"Allow","Action":"*","Resource":"*"}}"# }
        let padding = String(repeating: "x", count: 2048 - document(sid: "").count)
        _ = try s.createPolicy(name: "at-limit", document: document(sid: padding) + String(repeating: " \n", count: 500), now: 1)
        #expect(refusal { _ = try s.createPolicy(name: "over", document: document(sid: padding + "x"), now: 1) } == .malformedPolicy)
    }

    @Test func atMostFiveVersionsAndTheDefaultFollowsSetAsDefault() throws {
        var s = state()
        _ = try s.createPolicy(name: "p", document: document, now: 1)
        for i in 2...5 {
            let (policy, version) = try s.createPolicyVersion(name: "p", document: document, setAsDefault: i == 3, now: Double(i))
            #expect(version.versionID == "\(i)")
            #expect(policy.defaultVersionID == (i >= 3 ? "3" : "1"))
        }
        #expect(refusal { _ = try s.createPolicyVersion(name: "p", document: document, setAsDefault: false, now: 6) } == .versionsLimitExceeded)
        try s.deletePolicyVersion(name: "p", versionID: "2")
        let (_, next) = try s.createPolicyVersion(name: "p", document: document, setAsDefault: false, now: 7)
        #expect(next.versionID == "6", "version ids are never reused")
    }

    @Test func theDefaultVersionCannotBeDeletedAndAPolicyWithVersionsCannotEither() throws {
        var s = state()
        _ = try s.createPolicy(name: "p", document: document, now: 1)
        _ = try s.createPolicyVersion(name: "p", document: document, setAsDefault: false, now: 2)
        #expect(refusal { try s.deletePolicyVersion(name: "p", versionID: "1") } == .deleteConflict)
        #expect(refusal { try s.deletePolicy(name: "p") } == .deleteConflict)
        try s.setDefaultPolicyVersion(name: "p", versionID: "2", now: 3)
        try s.deletePolicyVersion(name: "p", versionID: "1")
        try s.deletePolicy(name: "p")
        #expect(refusal { _ = try s.policy(named: "p") } == .resourceNotFound)
        #expect(refusal { try s.setDefaultPolicyVersion(name: "p", versionID: "2", now: 4) } == .resourceNotFound)
    }

    @Test func anAttachedPolicyCannotBeDeleted() throws {
        var s = state()
        _ = try s.createPolicy(name: "p", document: document, now: 1)
        s.policyTargets["p"] = [s.arns.certificate(String(repeating: "a", count: 64))]
        #expect(refusal { try s.deletePolicy(name: "p") } == .deleteConflict)
    }

    @Test func settingTheDefaultChangesTheGenerationID() throws {
        var s = state()
        let first = try s.createPolicy(name: "p", document: document, now: 1)
        _ = try s.createPolicyVersion(name: "p", document: document, setAsDefault: false, now: 2)
        #expect(try s.policy(named: "p").generationID == first.generationID)
        try s.setDefaultPolicyVersion(name: "p", versionID: "2", now: 3)
        #expect(try s.policy(named: "p").generationID != first.generationID)
    }

    @Test func listingPagesWithOpaqueMarkers() throws {
        var s = state()
        for i in 1...7 { _ = try s.createPolicy(name: "p\(i)", document: document, now: Double(i)) }
        var seen: [String] = []
        var marker: String?
        repeat {
            let (page, next) = try s.listPolicies(marker: marker, pageSize: 3, ascending: true)
            #expect(page.count <= 3)
            seen += page.map(\.name)
            marker = next
        } while marker != nil
        #expect(seen == (1...7).map { "p\($0)" })
        #expect(try s.listPolicies(marker: nil, pageSize: nil, ascending: false).policies.first?.name == "p7")
        #expect(refusal { _ = try s.listPolicies(marker: "not-a-marker", pageSize: 3, ascending: true) } == .invalidRequest)
        #expect(refusal { _ = try s.listPolicies(marker: nil, pageSize: 0, ascending: true) } == .invalidRequest)
        #expect(refusal { _ = try s.listPolicies(marker: nil, pageSize: 251, ascending: true) } == .invalidRequest)
    }

    @Test func aRefusedOperationChangesNothing() async throws {
        let registry = try Registry(arns: ARNs(region: "eu-west-1", accountID: "123456789012"))
        let document = self.document
        _ = try await registry.perform { state throws(RegistryError) in try state.createPolicy(name: "p", document: document, now: 1) }
        await #expect(throws: RegistryError.self) {
            try await registry.perform { state throws(RegistryError) in
                _ = try state.createPolicyVersion(name: "p", document: document, setAsDefault: true, now: 2)
                _ = try state.createPolicy(name: "p", document: document, now: 3)   // fails: the version above must not stay
            }
        }
        #expect(try await registry.read { state throws(RegistryError) in try state.policy(named: "p") }.versions.count == 1)
    }
}
