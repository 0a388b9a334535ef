import Foundation
@testable import Registry
import Testing

@Suite("Registry events (reference 4.8)")
struct RegistryEventsTests {
    let arns = ARNs(region: "us-east-1", accountID: "123456789012")

    func payload(_ event: RegistryEvents.Event) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(event.payload.utf8))) as? [String: Any] ?? [:]
    }

    @Test func nothingIsPublishedUntilATypeIsEnabled() throws {
        let old = RegistryState(arns: arns)
        var new = old
        _ = try new.createThing(name: "lamp", thingTypeName: nil, attributes: [:], now: 1)
        #expect(RegistryEvents.between(old, new, accountID: "123456789012", nowMilliseconds: 5).isEmpty)
        #expect(new.eventConfigurationSummary.enabled["THING"] == false && new.eventConfigurationSummary.createdAt == nil)
    }

    @Test func thingEventsForCreateUpdateDelete() throws {
        var base = RegistryState(arns: arns)
        try base.updateEventConfigurations(["THING": true], now: 10)
        var created = base
        _ = try created.createThing(name: "lamp", thingTypeName: nil, attributes: ["room": "kitchen"], now: 11)
        let events = RegistryEvents.between(base, created, accountID: "123456789012", nowMilliseconds: 12_000)
        #expect(events.map(\.topic) == ["$aws/events/thing/lamp/created"])
        let fields = payload(events[0])
        #expect(fields["eventType"] as? String == "THING_EVENT" && fields["operation"] as? String == "CREATED")
        #expect(fields["thingName"] as? String == "lamp" && fields["accountId"] as? String == "123456789012")
        #expect(fields["attributes"] as? [String: String] == ["room": "kitchen"] && fields["versionNumber"] as? Int == 1)
        #expect(fields["timestamp"] as? Int == 12_000 && (fields["eventId"] as? String)?.count == 32)
        #expect(fields["thingTypeName"] is NSNull)

        var updated = created
        try updated.updateThing(name: "lamp", thingTypeName: nil, removeThingType: false, attributes: ["room": "hall"], merge: true,
                                expectedVersion: nil)
        #expect(RegistryEvents.between(created, updated, accountID: "1", nowMilliseconds: 0).map(\.topic) == ["$aws/events/thing/lamp/updated"])
        var deleted = updated
        try deleted.deleteThing(name: "lamp", expectedVersion: nil)
        #expect(RegistryEvents.between(updated, deleted, accountID: "1", nowMilliseconds: 0).map(\.topic) == ["$aws/events/thing/lamp/deleted"])
    }

    /// The gateway passes the operation's changed records, so only they are compared: the same events
    /// as comparing the whole states, and none for records outside them.
    @Test func comparingOnlyTheChangedRecordsGivesTheSameEvents() throws {
        var base = RegistryState(arns: arns)
        try base.updateEventConfigurations(["THING": true, "THING_GROUP": true, "THING_GROUP_HIERARCHY": true, "THING_GROUP_MEMBERSHIP": true,
                                            "THING_TYPE": true, "THING_TYPE_ASSOCIATION": true], now: 1)
        for index in 0..<50 { _ = try base.createThing(name: "bystander-\(index)", thingTypeName: nil, attributes: [:], now: 1) }
        _ = try base.createThing(name: "lamp", thingTypeName: nil, attributes: [:], now: 1)
        _ = try base.createThingGroup(name: "site", parentName: nil, description: nil, attributes: [:], now: 1)
        var steps: [(inout RegistryState) throws -> Void] = []
        steps.append { _ = try $0.createThingType(name: "light", description: nil, searchableAttributes: [], now: 2) }
        steps.append { try $0.updateThing(name: "lamp", thingTypeName: "light", removeThingType: false, attributes: ["a": "1"], merge: true, expectedVersion: nil) }
        steps.append { _ = try $0.createThingGroup(name: "floor", parentName: "site", description: nil, attributes: [:], now: 2) }
        steps.append { try $0.addThingToThingGroup(thingName: "lamp", groupName: "floor") }
        steps.append { try $0.deleteThing(name: "lamp", expectedVersion: nil) }
        steps.append { try $0.deleteThingGroup(name: "floor", expectedVersion: nil) }
        var state = base
        for step in steps {
            var next = state
            try step(&next)
            let changes = next.changes(since: state)
            let keys = Set(changes.upserts.keys).union(changes.deletions)
            let whole = RegistryEvents.between(state, next, accountID: "1", nowMilliseconds: 0).map(\.topic)
            let changed = RegistryEvents.between(state, next, changed: keys, accountID: "1", nowMilliseconds: 0).map(\.topic)
            #expect(!whole.isEmpty && changed == whole)
            state = next
        }
        #expect(RegistryEvents.between(base, state, changed: [RegistryRecordKey(.thing, "bystander-0")], accountID: "1", nowMilliseconds: 0).isEmpty,
                "records not named are not compared")
    }

    @Test func groupHierarchyMembershipAndTypeAssociation() throws {
        var base = RegistryState(arns: arns)
        try base.updateEventConfigurations(["THING_GROUP": true, "THING_GROUP_HIERARCHY": true, "THING_GROUP_MEMBERSHIP": true,
                                            "THING_TYPE": true, "THING_TYPE_ASSOCIATION": true], now: 1)
        _ = try base.createThing(name: "lamp", thingTypeName: nil, attributes: [:], now: 1)
        var next = base
        _ = try next.createThingGroup(name: "site", parentName: nil, description: nil, attributes: [:], now: 2)
        _ = try next.createThingGroup(name: "floor", parentName: "site", description: "1st", attributes: [:], now: 2)
        try next.addThingToThingGroup(thingName: "lamp", groupName: "floor")
        _ = try next.createThingType(name: "light", description: nil, searchableAttributes: [], now: 2)
        try next.updateThing(name: "lamp", thingTypeName: "light", removeThingType: false, attributes: nil, merge: true, expectedVersion: nil)
        let events = RegistryEvents.between(base, next, accountID: "123456789012", nowMilliseconds: 3)
        let topics = Set(events.map(\.topic))
        #expect(topics == [
            "$aws/events/thingType/light/created",
            "$aws/events/thingGroup/floor/created", "$aws/events/thingGroup/site/created",
            "$aws/events/thingGroupHierarchy/thingGroup/site/childThingGroup/floor/added",
            "$aws/events/thingGroupMembership/thingGroup/floor/thing/lamp/added",
            "$aws/events/thingTypeAssociation/thing/lamp/light",
        ], "THING is not enabled, so the thing's own update is not published")
        let floor = events.first { $0.topic == "$aws/events/thingGroup/floor/created" }.map(payload)
        #expect(floor?["parentGroupName"] as? String == "site" && floor?["description"] as? String == "1st")
        #expect((floor?["rootToParentThingGroups"] as? [[String: String]])?.first?["groupArn"] == arns.thingGroup("site"))
        let association = events.first { $0.topic.hasPrefix("$aws/events/thingTypeAssociation") }.map(payload)
        #expect(association?["operation"] as? String == "ADDED" && association?["eventType"] as? String == "THING_TYPE_ASSOCIATION_EVENT")
        let membership = events.first { $0.topic.contains("thingGroupMembership") }.map(payload)
        #expect(membership?["thingArn"] as? String == arns.thing("lamp") && membership?["operation"] as? String == "ADDED")
    }

    @Test func unknownTypesAreRefusedAndTheSummaryHasEveryType() throws {
        var state = RegistryState(arns: arns)
        #expect(refusal { try state.updateEventConfigurations(["THINGS": true], now: 1) } == .invalidRequest)
        try state.updateEventConfigurations(["THING": true], now: 5)
        try state.updateEventConfigurations(["THING": false, "JOB": true], now: 9)
        let summary = state.eventConfigurationSummary
        #expect(summary.enabled.count == RegistryEvents.types.count && summary.enabled["THING"] == false && summary.enabled["JOB"] == true)
        #expect(summary.createdAt == 5 && summary.lastModifiedAt == 9)
    }
}
