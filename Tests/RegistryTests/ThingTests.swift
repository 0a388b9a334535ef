@testable import Registry
import Testing

@Suite("Registry: things")
struct ThingTests {
    func state() -> RegistryState { RegistryState(arns: ARNs(region: "eu-west-1", accountID: "123456789012")) }


    @Test func createIsIdempotentForTheSameThingAndAConflictOtherwise() throws {
        var s = state()
        let first = try s.createThing(name: "sensor-1", thingTypeName: nil, attributes: ["room": "a"], now: 1)
        #expect(first.version == 1 && !first.thingID.isEmpty)
        #expect(try s.createThing(name: "sensor-1", thingTypeName: nil, attributes: ["room": "a"], now: 2).thingID == first.thingID)
        #expect(refusal { _ = try s.createThing(name: "sensor-1", thingTypeName: nil, attributes: ["room": "b"], now: 3) } == .resourceAlreadyExists)
        #expect(s.arns.thing("sensor-1") == "arn:aws:iot:eu-west-1:123456789012:thing/sensor-1")
    }

    @Test(arguments: ["", "has space", "slash/no", String(repeating: "x", count: 129), "é"])
    func badThingNamesAreRefused(_ name: String) {
        var s = state()
        #expect(refusal { _ = try s.createThing(name: name, thingTypeName: nil, attributes: [:], now: 1) } == .invalidRequest)
    }

    @Test func attributesAreCheckedAndLimitedToThreeWithoutAType() {
        var s = state()
        #expect(refusal { _ = try s.createThing(name: "t", thingTypeName: nil, attributes: ["a": "1", "b": "2", "c": "3", "d": "4"], now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.createThing(name: "t", thingTypeName: nil, attributes: ["bad name": "1"], now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.createThing(name: "t", thingTypeName: nil, attributes: ["a": "no spaces"], now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.createThing(name: "t", thingTypeName: nil, attributes: ["a": String(repeating: "v", count: 801)], now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.createThing(name: "t", thingTypeName: "no-such-type", attributes: [:], now: 1) } == .resourceNotFound)
    }

    @Test func updateMergesOrReplacesAndCountsVersions() throws {
        var s = state()
        _ = try s.createThing(name: "t", thingTypeName: nil, attributes: ["a": "1", "b": "2"], now: 1)
        try s.updateThing(name: "t", thingTypeName: nil, removeThingType: false, attributes: ["b": "", "c": "3"], merge: true, expectedVersion: 1)
        #expect(try s.thing(named: "t").attributes == ["a": "1", "c": "3"], "an empty value removes an attribute when merging")
        try s.updateThing(name: "t", thingTypeName: nil, removeThingType: false, attributes: ["z": "9"], merge: false, expectedVersion: nil)
        #expect(try s.thing(named: "t").attributes == ["z": "9"] && (try s.thing(named: "t").version) == 3)
        #expect(refusal { try s.updateThing(name: "t", thingTypeName: nil, removeThingType: false, attributes: [:], merge: false, expectedVersion: 1) } == .versionConflict)
        #expect(refusal { try s.updateThing(name: "nope", thingTypeName: nil, removeThingType: false, attributes: nil, merge: false, expectedVersion: nil) } == .resourceNotFound)
    }

    @Test func deleteChecksTheVersionAndIsIdempotent() throws {
        var s = state()
        _ = try s.createThing(name: "t", thingTypeName: nil, attributes: [:], now: 1)
        #expect(refusal { try s.deleteThing(name: "t", expectedVersion: 7) } == .versionConflict)
        try s.deleteThing(name: "t", expectedVersion: 1)
        try s.deleteThing(name: "t", expectedVersion: nil)
        #expect(refusal { _ = try s.thing(named: "t") } == .resourceNotFound)
    }

    @Test func listFiltersByAttributeAndPages() throws {
        var s = state()
        for i in 1...5 { _ = try s.createThing(name: "t\(i)", thingTypeName: nil, attributes: ["room": i % 2 == 0 ? "lab-\(i)" : "hall"], now: 1) }
        let hall = try s.listThings(nextToken: nil, maxResults: nil, attributeName: "room", attributeValue: "hall", usePrefixAttributeValue: false, thingTypeName: nil)
        #expect(hall.things.map(\.name) == ["t1", "t3", "t5"])
        let lab = try s.listThings(nextToken: nil, maxResults: nil, attributeName: "room", attributeValue: "lab", usePrefixAttributeValue: true, thingTypeName: nil)
        #expect(lab.things.map(\.name) == ["t2", "t4"])
        var names: [String] = []
        var token: String?
        repeat {
            let page = try s.listThings(nextToken: token, maxResults: 2, attributeName: nil, attributeValue: nil, usePrefixAttributeValue: false, thingTypeName: nil)
            names += page.things.map(\.name)
            token = page.nextToken
        } while token != nil
        #expect(names == ["t1", "t2", "t3", "t4", "t5"])
        #expect(refusal { _ = try s.listThings(nextToken: nil, maxResults: 251, attributeName: nil, attributeValue: nil, usePrefixAttributeValue: false, thingTypeName: nil) } == .invalidRequest)
        #expect(refusal { _ = try s.listThings(nextToken: nil, maxResults: nil, attributeName: nil, attributeValue: nil, usePrefixAttributeValue: true, thingTypeName: nil) } == .invalidRequest)
    }
}
