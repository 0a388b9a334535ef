@testable import Registry
import Testing

@Suite("Registry: dynamic thing groups on shadow and connectivity fields")
struct DynamicGroupTests {
    let arns = ARNs(region: "eu-north-1", accountID: "123456789012")

    func state(mode: String = "REGISTRY_AND_SHADOW", connectivity: String = "STATUS") throws -> RegistryState {
        var state = RegistryState(arns: arns)
        var record = IndexingConfigurationRecord()
        record.thingIndexingMode = mode
        record.thingConnectivityIndexingMode = connectivity
        try state.updateIndexingConfiguration(things: record, thingGroupMode: nil)
        for name in ["a", "b"] { _ = try state.createThing(name: name, thingTypeName: nil, attributes: ["floor": "3"], now: 1) }
        return state
    }

    func document(_ fields: [(String, FleetValue)]) -> FleetDocument {
        var document = FleetDocument()
        for (field, value) in fields { document.add(field, value) }
        return document
    }

    @Test func membershipFollowsTheLiveFieldsAndOnlyNamedFieldsAreKept() throws {
        var state = try state()
        _ = try state.createDynamicThingGroup(name: "charged", description: nil, attributes: [:], indexName: nil,
                                              queryString: "shadow.reported.battery:>80 AND attributes.floor:3", queryVersion: nil, now: 1)
        _ = try state.createDynamicThingGroup(name: "online", description: nil, attributes: [:], indexName: nil,
                                              queryString: "connectivity.connected:true", queryVersion: nil, now: 1)
        #expect(state.liveFieldNames == ["shadow.reported.battery", "connectivity.connected"])
        #expect(try state.listThingsInThingGroup(groupName: "charged", recursive: false, nextToken: nil, maxResults: nil).things.isEmpty)

        let changed = state.setLiveFields(["a": document([("shadow.reported.battery", .number(90)), ("shadow.reported.other", .number(1))]),
                                           "b": document([("shadow.reported.battery", .number(10))])], replacingAll: false)
        #expect(changed == ["a"])
        #expect(state.thingGroups(ofThing: "a") == ["charged"])
        #expect(state.liveFields["a"]?.fields.keys.sorted() == ["shadow.reported.battery"], "fields no query names are not kept")
        #expect(try state.listThingsInThingGroup(groupName: "charged", recursive: false, nextToken: nil, maxResults: nil).things == ["a"])

        // Connectivity: a's new document replaces its old one (the battery is gone with it).
        #expect(state.setLiveFields(["a": document([("connectivity.connected", .bool(true))])], replacingAll: false) == ["a"])
        #expect(state.thingGroups(ofThing: "a") == ["online"])
        // Nothing changed: no membership change is reported.
        #expect(state.setLiveFields(["a": document([("connectivity.connected", .bool(true))])], replacingAll: false).isEmpty)
        // Unknown things are ignored; a deleted thing's fields go with it.
        #expect(state.setLiveFields(["ghost": document([("connectivity.connected", .bool(true))])], replacingAll: false).isEmpty)
        #expect(state.liveFields["ghost"] == nil)
        try state.deleteThing(name: "a", expectedVersion: nil)
        #expect(state.liveFields["a"] == nil)
        #expect(try state.listThingsInThingGroup(groupName: "online", recursive: false, nextToken: nil, maxResults: nil).things.isEmpty)
    }

    @Test func fieldsTheIndexDoesNotHoldMatchNothing() throws {
        var state = try state(mode: "REGISTRY", connectivity: "OFF")
        _ = try state.createDynamicThingGroup(name: "charged", description: nil, attributes: [:], indexName: nil,
                                              queryString: "shadow.reported.battery:>80", queryVersion: nil, now: 1)
        _ = try state.createDynamicThingGroup(name: "online", description: nil, attributes: [:], indexName: nil,
                                              queryString: "connectivity.connected:true", queryVersion: nil, now: 1)
        _ = try state.createDynamicThingGroup(name: "named", description: nil, attributes: [:], indexName: nil,
                                              queryString: "shadow.name.cfg.reported.mode:eco", queryVersion: nil, now: 1)
        let live = document([("shadow.reported.battery", .number(90)), ("connectivity.connected", .bool(true)),
                             ("shadow.name.cfg.reported.mode", .string("eco"))])
        #expect(state.setLiveFields(["a": live], replacingAll: false).isEmpty)
        #expect(state.thingGroups(ofThing: "a").isEmpty)

        // Shadows and connectivity indexed; the named shadow only once it is listed.
        var record = state.indexingConfigurationRecord
        record.thingIndexingMode = "REGISTRY_AND_SHADOW"
        record.thingConnectivityIndexingMode = "STATUS"
        try state.updateIndexingConfiguration(things: record, thingGroupMode: nil)
        #expect(state.thingGroups(ofThing: "a") == ["charged", "online"])
        record.namedShadowIndexingMode = "ON"
        record.namedShadowNames = ["cfg"]
        try state.updateIndexingConfiguration(things: record, thingGroupMode: nil)
        #expect(state.thingGroups(ofThing: "a") == ["charged", "named", "online"])
    }

    @Test func staticGroupNamesMaySelectMembers() throws {
        var state = try state()
        _ = try state.createThingGroup(name: "floor3", parentName: nil, description: nil, attributes: [:], now: 1)
        try state.addThingToThingGroup(thingName: "b", groupName: "floor3")
        _ = try state.createDynamicThingGroup(name: "third", description: nil, attributes: [:], indexName: nil,
                                              queryString: "thingGroupNames:floor3", queryVersion: nil, now: 1)
        #expect(state.thingGroups(ofThing: "b") == ["floor3", "third"])
        #expect(state.thingGroups(ofThing: "a").isEmpty)
        #expect(state.liveFieldNames.isEmpty, "registry fields need nothing from the gateway")
        #expect(refusal { _ = try state.createDynamicThingGroup(name: "bare", description: nil, attributes: [:], indexName: nil,
                                                                queryString: "floor3", queryVersion: nil, now: 1) } == .invalidQuery)
    }
}
