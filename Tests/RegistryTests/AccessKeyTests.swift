import Foundation
import IoTPolicy
@testable import Registry
import Testing

/// Data-plane access keys and their IoT policies.
@Suite("Registry: data-plane access keys")
struct AccessKeyTests {
    let arns = ARNs(region: "us-east-1", accountID: "123456789012")
    let publishSensors = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/sensors/*"}]}"#

    @Test func aKeyIsAuthorizedByItsPoliciesOnly() throws {
        var s = RegistryState(arns: arns)
        _ = try s.createPolicy(name: "sensors", document: publishSensors, now: 1)
        let key = try s.createAccessKey(policyNames: ["sensors"], description: "gateway app", now: 2)
        #expect(key.accessKeyID.count == 20 && key.accessKeyID.hasPrefix("AKIP") && key.secretAccessKey.count == 40)
        #expect(s.authorizeAccessKey(key.accessKeyID, .publish, resource: "sensors/temp", now: Date()).allowed)
        let denied = s.authorizeAccessKey(key.accessKeyID, .publish, resource: "actuators/valve", now: Date())
        #expect(!denied.allowed && denied.explanation.contains("actuators/valve"))
        #expect(!s.authorizeAccessKey(key.accessKeyID, .listRetainedMessages, resource: "*", now: Date()).allowed)
        #expect(!s.authorizeAccessKey("AKIPNOSUCHKEY0000000", .publish, resource: "sensors/temp", now: Date()).allowed)
        let loaded = try RegistryState(arns: arns, records: s.changes(since: RegistryState(arns: arns)).upserts)
        #expect(try loaded.accessKey(id: key.accessKeyID) == key, "kept across restarts")
    }

    @Test func refusals() throws {
        var s = RegistryState(arns: arns)
        _ = try s.createPolicy(name: "sensors", document: publishSensors, now: 1)
        #expect(refusal { _ = try s.createAccessKey(policyNames: [], description: "", now: 2) } == .invalidRequest)
        #expect(refusal { _ = try s.createAccessKey(policyNames: ["sensors", "sensors"], description: "", now: 2) } == .invalidRequest)
        #expect(refusal { _ = try s.createAccessKey(policyNames: ["missing"], description: "", now: 2) } == .resourceNotFound)
        #expect(refusal { _ = try s.createAccessKey(policyNames: ["sensors"], description: String(repeating: "x", count: 257), now: 2) } == .invalidRequest)
        let key = try s.createAccessKey(policyNames: ["sensors"], description: "", now: 2)
        #expect(refusal { try s.deletePolicy(name: "sensors") } == .deleteConflict, "a policy attached to a key stays")
        try s.deleteAccessKey(id: key.accessKeyID)
        try s.deletePolicy(name: "sensors")
        #expect(refusal { try s.deleteAccessKey(id: key.accessKeyID) } == .resourceNotFound)
    }
}
