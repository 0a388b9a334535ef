@testable import Registry
import Testing

@Suite("Registry: billing groups")
struct BillingGroupTests {
    let arns = ARNs(region: "eu-west-1", accountID: "123456789012")

    @Test func aThingIsInOneBillingGroupAndLeavesWithItsDeletion() throws {
        var state = RegistryState(arns: arns)
        _ = try state.createBillingGroup(name: "a", description: nil, now: 1)
        _ = try state.createBillingGroup(name: "b", description: "second", now: 1)
        _ = try state.createThing(name: "t", thingTypeName: nil, attributes: [:], billingGroupName: "a", now: 1)
        try state.addThingToBillingGroup(thingName: "t", groupName: "b")
        #expect(try state.thing(named: "t").billingGroupName == "b")
        #expect(try state.listThingsInBillingGroup(groupName: "a", nextToken: nil, maxResults: nil).things.isEmpty)
        #expect(try state.thing(named: "t").version == 1)
        // Removing from a group it is not in changes nothing.
        try state.removeThingFromBillingGroup(thingName: "t", groupName: "a")
        #expect(try state.thing(named: "t").billingGroupName == "b")
        try state.deleteBillingGroup(name: "b", expectedVersion: 1)
        #expect(try state.thing(named: "t").billingGroupName == nil)
        #expect(refusal { _ = try state.createThing(name: "u", thingTypeName: nil, attributes: [:], billingGroupName: "b", now: 1) } == .resourceNotFound)
    }

    @Test func versionsNamesAndARNsAreChecked() throws {
        var state = RegistryState(arns: arns)
        _ = try state.createBillingGroup(name: "g", description: "d", now: 1)
        #expect(refusal { _ = try state.createBillingGroup(name: "g", description: "other", now: 2) } == .resourceAlreadyExists)
        #expect(refusal { _ = try state.createBillingGroup(name: "no spaces", description: nil, now: 2) } == .invalidRequest)
        #expect(refusal { _ = try state.updateBillingGroup(name: "g", description: "e", expectedVersion: 2) } == .versionConflict)
        #expect(try state.updateBillingGroup(name: "g", description: "", expectedVersion: 1) == 2)
        #expect(try state.billingGroup(named: "g").description == nil, "an empty description removes it")
        #expect(try state.billingGroupName(name: nil, arn: "arn:aws:iot:eu-west-1:123456789012:billinggroup/g") == "g")
        #expect(refusal { _ = try state.billingGroupName(name: nil, arn: "arn:aws:iot:us-east-1:123456789012:billinggroup/g") } == .invalidRequest)
        #expect(refusal { _ = try state.billingGroupName(name: "h", arn: "arn:aws:iot:eu-west-1:123456789012:billinggroup/g") } == .invalidRequest)
        #expect(refusal { _ = try state.billingGroupName(name: nil, arn: nil) } == .invalidRequest)
    }

    @Test func joiningABillingGroupIsNoThingEvent() throws {
        var base = RegistryState(arns: arns)
        try base.updateEventConfigurations(["THING": true], now: 1)
        _ = try base.createBillingGroup(name: "g", description: nil, now: 1)
        _ = try base.createThing(name: "t", thingTypeName: nil, attributes: [:], now: 1)
        var joined = base
        try joined.addThingToBillingGroup(thingName: "t", groupName: "g")
        #expect(RegistryEvents.between(base, joined, accountID: "123456789012", nowMilliseconds: 1).isEmpty)
        var updated = joined
        try updated.updateThing(name: "t", thingTypeName: nil, removeThingType: false, attributes: ["a": "1"], merge: true, expectedVersion: nil)
        #expect(RegistryEvents.between(joined, updated, accountID: "123456789012", nowMilliseconds: 1).map(\.topic) == ["$aws/events/thing/t/updated"])
    }
}
