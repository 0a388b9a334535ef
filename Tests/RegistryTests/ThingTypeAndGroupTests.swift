@testable import Registry
import Testing

/// Thing types (deprecation, 50 attributes), static thing groups (hierarchy, membership rules, policies
/// through groups) and tags, each rule with its refusal.
@Suite("Registry: thing types, thing groups, tags")
struct ThingTypeAndGroupTests {
    func state() -> RegistryState { RegistryState(arns: ARNs(region: "eu-west-1", accountID: "123456789012")) }

    @Test func aTypeLiftsTheAttributeLimitUntilItIsRemoved() throws {
        var s = state()
        _ = try s.createThingType(name: "lamp", description: "a lamp", searchableAttributes: ["room"], now: 1)
        let many = Dictionary(uniqueKeysWithValues: (0..<50).map { ("a\($0)", "v") })
        let thing = try s.createThing(name: "l1", thingTypeName: "lamp", attributes: many, now: 1)
        #expect(thing.thingTypeName == "lamp")
        #expect(refusal { _ = try s.createThing(name: "l2", thingTypeName: "lamp", attributes: many.merging(["x": "1"]) { a, _ in a }, now: 1) } == .invalidRequest)
        #expect(refusal { try s.updateThing(name: "l1", thingTypeName: nil, removeThingType: true, attributes: nil, merge: false, expectedVersion: nil) } == .invalidRequest,
                "50 attributes do not fit a thing without a type")
        try s.updateThing(name: "l1", thingTypeName: nil, removeThingType: true, attributes: ["a": "1"], merge: false, expectedVersion: nil)
        #expect(try s.thing(named: "l1").thingTypeName == nil)
        #expect(refusal { _ = try s.createThingType(name: "lamp", description: "other", searchableAttributes: [], now: 2) } == .resourceAlreadyExists)
        #expect(refusal { _ = try s.createThingType(name: "t", description: nil, searchableAttributes: ["a", "b", "c", "d"], now: 2) } == .invalidRequest)
    }

    @Test func aDeprecatedTypeTakesNoThingsAndIsDeletedFiveMinutesLater() throws {
        var s = state()
        _ = try s.createThingType(name: "old", description: nil, searchableAttributes: [], now: 0)
        _ = try s.createThing(name: "t", thingTypeName: "old", attributes: [:], now: 0)
        #expect(refusal { try s.deleteThingType(name: "old", now: 1000) } == .invalidRequest, "not deprecated")
        try s.deprecateThingType(name: "old", undo: false, now: 100)
        #expect(try s.thingType(named: "old").deprecated)
        #expect(refusal { _ = try s.createThing(name: "u", thingTypeName: "old", attributes: [:], now: 101) } == .invalidRequest)
        #expect(refusal { try s.deleteThingType(name: "old", now: 399) } == .invalidRequest, "less than five minutes")
        #expect(refusal { try s.deleteThingType(name: "old", now: 400) } == .invalidRequest, "a thing still has it")
        try s.updateThing(name: "t", thingTypeName: nil, removeThingType: true, attributes: nil, merge: false, expectedVersion: nil)
        try s.deleteThingType(name: "old", now: 400)
        #expect(refusal { _ = try s.thingType(named: "old") } == .resourceNotFound)
    }

    @Test func groupsNestUpToSevenLevelsAndDeleteOnlyWithoutChildren() throws {
        var s = state()
        var parent: String?
        for level in 1...7 {
            _ = try s.createThingGroup(name: "g\(level)", parentName: parent, description: nil, attributes: [:], now: 1)
            parent = "g\(level)"
        }
        #expect(refusal { _ = try s.createThingGroup(name: "g8", parentName: "g7", description: nil, attributes: [:], now: 1) } == .invalidRequest)
        #expect(refusal { _ = try s.createThingGroup(name: "x", parentName: "missing", description: nil, attributes: [:], now: 1) } == .resourceNotFound)
        #expect(s.ancestors(of: "g3").map(\.name) == ["g2", "g1"])
        #expect(try s.listThingGroups(nextToken: nil, maxResults: nil, parentGroup: "g5", namePrefix: nil, recursive: true).groups.map(\.name) == ["g6", "g7"])
        #expect(try s.listThingGroups(nextToken: nil, maxResults: nil, parentGroup: nil, namePrefix: nil, recursive: false).groups.map(\.name) == ["g1"])
        #expect(refusal { try s.deleteThingGroup(name: "g6", expectedVersion: nil) } == .invalidRequest)
        #expect(refusal { try s.deleteThingGroup(name: "g7", expectedVersion: 5) } == .versionConflict)
        #expect(try s.updateThingGroup(name: "g7", description: "leaf", attributes: ["k": "v"], merge: true, expectedVersion: 1) == 2)
        try s.deleteThingGroup(name: "g7", expectedVersion: 2)
        try s.deleteThingGroup(name: "g7", expectedVersion: nil)
    }

    @Test func aThingIsInAtMostTenGroupsAndOneGroupPerHierarchy() throws {
        var s = state()
        _ = try s.createThing(name: "t", thingTypeName: nil, attributes: [:], now: 1)
        _ = try s.createThingGroup(name: "site", parentName: nil, description: nil, attributes: [:], now: 1)
        _ = try s.createThingGroup(name: "floor", parentName: "site", description: nil, attributes: [:], now: 1)
        try s.addThingToThingGroup(thingName: "t", groupName: "floor")
        #expect(refusal { try s.addThingToThingGroup(thingName: "t", groupName: "site") } == .invalidRequest)
        for index in 0..<9 {
            _ = try s.createThingGroup(name: "r\(index)", parentName: nil, description: nil, attributes: [:], now: 1)
            try s.addThingToThingGroup(thingName: "t", groupName: "r\(index)")
        }
        _ = try s.createThingGroup(name: "eleventh", parentName: nil, description: nil, attributes: [:], now: 1)
        #expect(refusal { try s.addThingToThingGroup(thingName: "t", groupName: "eleventh") } == .invalidRequest)
        #expect(try s.listThingsInThingGroup(groupName: "site", recursive: true, nextToken: nil, maxResults: nil).things == ["t"])
        #expect(try s.listThingsInThingGroup(groupName: "site", recursive: false, nextToken: nil, maxResults: nil).things.isEmpty)
        try s.removeThingFromThingGroup(thingName: "t", groupName: "floor")
        try s.addThingToThingGroup(thingName: "t", groupName: "site")
        try s.deleteThing(name: "t", expectedVersion: nil)
        #expect(s.thingGroups(ofThing: "t").isEmpty, "memberships go with the thing")
    }

    @Test func policiesAttachToGroupsAndListRecursively() throws {
        var s = state()
        _ = try s.createThingGroup(name: "site", parentName: nil, description: nil, attributes: [:], now: 1)
        _ = try s.createThingGroup(name: "floor", parentName: "site", description: nil, attributes: [:], now: 1)
        _ = try s.createPolicy(name: "site-policy", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 1)
        _ = try s.createPolicy(name: "floor-policy", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 1)
        try s.attachPolicy(name: "site-policy", target: s.arns.thingGroup("site"))
        try s.attachPolicy(name: "floor-policy", target: s.arns.thingGroup("floor"))
        #expect(try s.listAttachedPolicies(target: s.arns.thingGroup("floor"), marker: nil, pageSize: nil).policies.map(\.name) == ["floor-policy"])
        #expect(try s.listAttachedPolicies(target: s.arns.thingGroup("floor"), recursive: true, marker: nil, pageSize: nil).policies.map(\.name)
                == ["floor-policy", "site-policy"])
        try s.deleteThingGroup(name: "floor", expectedVersion: nil)
        #expect(try s.listTargetsForPolicy(name: "floor-policy", marker: nil, pageSize: nil).targets.isEmpty, "a deleted group's attachments go")
        #expect(refusal { try s.attachPolicy(name: "site-policy", target: s.arns.thingGroup("floor")) } == .resourceNotFound)
    }

    @Test func tagsAreCheckedBoundedAndGoWithTheirResource() throws {
        var s = state()
        _ = try s.createPolicy(name: "p", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 1)
        let arn = s.arns.policy("p")
        try s.tagResource(arn: arn, tags: ["team": "a", "env": "prod"])
        try s.tagResource(arn: arn, tags: ["env": "dev"])
        #expect(try s.listTags(arn: arn, nextToken: nil).tags.map { "\($0.key)=\($0.value)" } == ["env=dev", "team=a"])
        try s.untagResource(arn: arn, keys: ["team", "absent"])
        #expect(try s.listTags(arn: arn, nextToken: nil).tags.map(\.key) == ["env"])
        #expect(refusal { try s.tagResource(arn: arn, tags: ["aws:owner": "x"]) } == .invalidRequest)
        #expect(refusal { try s.tagResource(arn: arn, tags: Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", "") })) } == .limitExceeded)
        #expect(refusal { try s.tagResource(arn: s.arns.policy("missing"), tags: ["a": "b"]) } == .resourceNotFound)
        #expect(refusal { try s.tagResource(arn: s.arns.thing("t"), tags: ["a": "b"]) } == .invalidRequest)
        try s.deletePolicy(name: "p")
        _ = try s.createPolicy(name: "p", document: #"{"Version":"2012-10-17","Statement":[]}"#, now: 2)
        #expect(try s.listTags(arn: arn, nextToken: nil).tags.isEmpty, "a new policy of the same name starts without tags")
    }
}
