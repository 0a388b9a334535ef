import Foundation

/// The fleet-indexing configuration (UpdateIndexingConfiguration): what the `AWS_Things` and
/// `AWS_ThingGroups` indexes hold. The index itself is not stored: every query reads the registry, the
/// shadows and the broker as they are, so it follows every change at once (and `indexStatus` is ACTIVE).
public struct IndexingConfigurationRecord: Sendable, Hashable, Codable {
    public var thingIndexingMode = "OFF"
    public var thingConnectivityIndexingMode = "OFF"
    public var deviceDefenderIndexingMode = "OFF"
    public var namedShadowIndexingMode = "OFF"
    public var namedShadowNames: [String] = []
    public var customFields: [IndexField] = []
    public var thingGroupIndexingMode = "OFF"

    public init() {}

    public struct IndexField: Sendable, Hashable, Codable {
        public var name: String
        public var type: String
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public var thingsIndexed: Bool { thingIndexingMode != "OFF" }
    public var shadowsIndexed: Bool { thingIndexingMode == "REGISTRY_AND_SHADOW" }
    public var connectivityIndexed: Bool { thingsIndexed && thingConnectivityIndexingMode == "STATUS" }
    public var thingGroupsIndexed: Bool { thingGroupIndexingMode == "ON" }
}

public enum FleetIndex {
    public static let things = "AWS_Things"
    public static let thingGroups = "AWS_ThingGroups"
    /// The fields every thing index has (AWS's managed fields).
    public static let managedThingFields: [IndexingConfigurationRecord.IndexField] = [
        .init(name: "thingName", type: "String"), .init(name: "thingId", type: "String"), .init(name: "thingTypeName", type: "String"),
        .init(name: "thingGroupNames", type: "String"), .init(name: "registry.version", type: "Number"),
    ]
    public static let managedConnectivityFields: [IndexingConfigurationRecord.IndexField] = [
        .init(name: "connectivity.connected", type: "Boolean"), .init(name: "connectivity.timestamp", type: "Number"),
        .init(name: "connectivity.disconnectReason", type: "String"),
    ]
    public static let managedThingGroupFields: [IndexingConfigurationRecord.IndexField] = [
        .init(name: "thingGroupName", type: "String"), .init(name: "thingGroupId", type: "String"),
        .init(name: "thingGroupDescription", type: "String"), .init(name: "parentGroupNames", type: "String"),
    ]
    /// SearchIndex's maxResults "cannot exceed 100" (AWS's API reference).
    public static let maximumResults = 100
}

extension RegistryState {
    public var indexingConfigurationRecord: IndexingConfigurationRecord { indexingConfiguration ?? IndexingConfigurationRecord() }

    /// UpdateIndexingConfiguration: the modes as given (each checked), named shadows only with shadows.
    public mutating func updateIndexingConfiguration(things: IndexingConfigurationRecord?, thingGroupMode: String?) throws(RegistryError) {
        var record = indexingConfigurationRecord
        if let things {
            func check(_ value: String, _ allowed: [String], _ name: String) throws(RegistryError) {
                guard allowed.contains(value) else { throw RegistryError(.invalidRequest, "\(name) must be one of \(allowed.joined(separator: ", ")).") }
            }
            try check(things.thingIndexingMode, ["OFF", "REGISTRY", "REGISTRY_AND_SHADOW"], "thingIndexingMode")
            try check(things.thingConnectivityIndexingMode, ["OFF", "STATUS"], "thingConnectivityIndexingMode")
            try check(things.deviceDefenderIndexingMode, ["OFF", "VIOLATIONS"], "deviceDefenderIndexingMode")
            try check(things.namedShadowIndexingMode, ["OFF", "ON"], "namedShadowIndexingMode")
            if things.thingIndexingMode == "OFF" && (things.thingConnectivityIndexingMode != "OFF" || things.namedShadowIndexingMode != "OFF") {
                throw RegistryError(.invalidRequest, "Connectivity and named shadows cannot be indexed while thingIndexingMode is OFF.")
            }
            if things.namedShadowIndexingMode == "ON" && things.thingIndexingMode != "REGISTRY_AND_SHADOW" {
                throw RegistryError(.invalidRequest, "namedShadowIndexingMode ON needs thingIndexingMode REGISTRY_AND_SHADOW.")
            }
            guard things.namedShadowNames.count <= 10 else { throw RegistryError(.invalidRequest, "At most 10 named shadows are indexed.") }
            for field in things.customFields {
                try check(field.type, ["Number", "String", "Boolean"], "customFields type")
                guard !field.name.isEmpty, field.name.utf8.count <= 256 else { throw RegistryError(.invalidRequest, "A custom field needs a name.") }
            }
            let keep = record.thingGroupIndexingMode
            record = things
            record.thingGroupIndexingMode = keep
        }
        if let thingGroupMode {
            guard ["OFF", "ON"].contains(thingGroupMode) else { throw RegistryError(.invalidRequest, "thingGroupIndexingMode must be OFF or ON.") }
            record.thingGroupIndexingMode = thingGroupMode
        }
        indexingConfiguration = record
    }

    /// The registry part of a thing's document.
    public func fleetDocument(thing: Thing) -> FleetDocument {
        var document = FleetDocument()
        document.add("thingName", .string(thing.name))
        document.add("thingId", .string(thing.thingID))
        if let type = thing.thingTypeName { document.add("thingTypeName", .string(type)) }
        // Static groups only: a dynamic group's query may name groups, but not its own kind.
        for group in groupMemberships[thing.name, default: []].sorted() { document.add("thingGroupNames", .string(group)) }
        for (key, value) in thing.attributes { document.add("attributes.\(key)", .string(value)) }
        document.add("registry.version", .number(Double(thing.version)))
        return document
    }

    /// Every thing, by name.
    public var allThings: [Thing] { things.values.sorted { $0.name < $1.name } }

    /// The thing-group index's document of a group.
    public func fleetDocument(thingGroup group: ThingGroup) -> FleetDocument {
        var document = FleetDocument()
        document.add("thingGroupName", .string(group.name))
        document.add("thingGroupId", .string(group.thingGroupID))
        if let description = group.description { document.add("thingGroupDescription", .string(description)) }
        for parent in ancestors(of: group.name) { document.add("parentGroupNames", .string(parent.name)) }
        for (key, value) in group.attributes { document.add("attributes.\(key)", .string(value)) }
        return document
    }

    public var allThingGroups: [ThingGroup] { thingGroups.values.sorted { $0.name < $1.name } }
}

extension RegistryState {
    /// CreateDynamicThingGroup: a group whose members are the things its query matches. Needs thing
    /// indexing on; its query may name registry, shadow and connectivity fields (the last two are kept
    /// current by the gateway through `setLiveFields`).
    public mutating func createDynamicThingGroup(name: String, description: String?, attributes: [String: String], indexName: String?,
                                                 queryString: String, queryVersion: String?, now: Double) throws(RegistryError) -> ThingGroup {
        try ThingRules.checkName(name, field: "thingGroupName")
        try Self.checkGroupProperties(description: description, attributes: attributes)
        let query = try checkDynamicQuery(indexName: indexName, queryString: queryString, queryVersion: queryVersion)
        if let existing = thingGroups[name] {
            throw RegistryError(.resourceAlreadyExists, "Thing group \(name) already exists.", resourceID: existing.thingGroupID,
                                resourceARN: arns.thingGroup(name))
        }
        let group = ThingGroup(name: name, thingGroupID: UUID().uuidString.lowercased(), parentName: nil, description: description,
                               attributes: attributes, version: 1, createdAt: now, queryString: queryString, indexName: indexName ?? FleetIndex.things,
                               queryVersion: queryVersion ?? "2017-09-30")
        thingGroups[name] = group
        dynamicQueries[name] = query
        return group
    }

    /// UpdateDynamicThingGroup: properties, and the query (its members change at once).
    public mutating func updateDynamicThingGroup(name: String, description: String?, attributes: [String: String]?, merge: Bool,
                                                 queryString: String?, queryVersion: String?, indexName: String?, expectedVersion: Int?) throws(RegistryError) -> Int {
        var group = try thingGroup(named: name)
        guard group.isDynamic else { throw RegistryError(.invalidRequest, "Thing group \(name) is not a dynamic thing group.") }
        if let queryString {
            dynamicQueries[name] = try checkDynamicQuery(indexName: indexName ?? group.indexName, queryString: queryString, queryVersion: queryVersion)
            group.queryString = queryString
            if let queryVersion { group.queryVersion = queryVersion }
        }
        thingGroups[name] = group
        return try updateThingGroup(name: name, description: description, attributes: attributes, merge: merge, expectedVersion: expectedVersion)
    }

    /// DeleteDynamicThingGroup; deleting one that does not exist succeeds.
    public mutating func deleteDynamicThingGroup(name: String, expectedVersion: Int?) throws(RegistryError) {
        if let group = thingGroups[name], !group.isDynamic {
            throw RegistryError(.invalidRequest, "Thing group \(name) is a static thing group: delete it with DeleteThingGroup.")
        }
        try deleteThingGroup(name: name, expectedVersion: expectedVersion)
        dynamicQueries[name] = nil
    }

    func checkDynamicQuery(indexName: String?, queryString: String, queryVersion: String?) throws(RegistryError) -> FleetQuery {
        guard indexingConfigurationRecord.thingsIndexed else {
            throw RegistryError(.invalidRequest, "Dynamic thing groups need thing indexing: turn it on with UpdateIndexingConfiguration.")
        }
        guard (indexName ?? FleetIndex.things) == FleetIndex.things else {
            throw RegistryError(.invalidRequest, "A dynamic thing group queries the index AWS_Things.")
        }
        guard (queryVersion ?? "2017-09-30") == "2017-09-30" else { throw RegistryError(.invalidRequest, "queryVersion must be 2017-09-30.") }
        let query = try FleetQuery.parse(queryString)
        if query.fields.contains("") {
            throw RegistryError(.invalidQuery, "Dynamic thing groups here need a field for every term.")
        }
        return query
    }

    /// The shadow and connectivity fields the dynamic groups' queries name: what the gateway keeps in
    /// `liveFields` for every thing (nothing when no query names one).
    public var liveFieldNames: Set<String> {
        var names = Set<String>()
        for query in dynamicQueries.values {
            names.formUnion(query.fields.filter(Self.isLiveField))
        }
        return names
    }

    /// Whether the configuration indexes a live field: named shadows only those listed.
    static func indexes(_ field: String, _ record: IndexingConfigurationRecord) -> Bool {
        guard field.hasPrefix("shadow.") else { return record.connectivityIndexed }
        guard record.shadowsIndexed else { return false }
        guard field.hasPrefix("shadow.name.") else { return true }
        let name = field.dropFirst("shadow.name.".count).prefix { $0 != "." }
        return record.namedShadowIndexingMode == "ON" && record.namedShadowNames.contains(String(name))
    }

    static func isLiveField(_ field: String) -> Bool { field.hasPrefix("shadow.") || field.hasPrefix("connectivity.") }

    /// A thing's document for dynamic group membership: its registry fields and the live fields the
    /// indexing configuration indexes (shadows with REGISTRY_AND_SHADOW, connectivity with STATUS), as
    /// SearchIndex would see them.
    public func membershipDocument(thing: Thing) -> FleetDocument {
        var document = fleetDocument(thing: thing)
        guard let live = liveFields[thing.name] else { return document }
        let record = indexingConfigurationRecord
        for (field, values) in live.fields where Self.indexes(field, record) { document.fields[field] = values }
        return document
    }

    /// Records the live fields of some things (nil: none; `replacingAll` forgets every other thing's) and
    /// returns the things whose dynamic group membership changed.
    public mutating func setLiveFields(_ updates: [String: FleetDocument?], replacingAll: Bool) -> Set<String> {
        let names = liveFieldNames
        var touched = Set(updates.keys)
        if replacingAll { touched.formUnion(liveFields.keys) }
        touched = touched.filter { things[$0] != nil }
        let before = Dictionary(uniqueKeysWithValues: touched.map { ($0, thingGroups(ofThing: $0)) })
        if replacingAll { liveFields = [:] }
        for (thing, document) in updates {
            guard things[thing] != nil, var document, !document.fields.isEmpty else {
                liveFields[thing] = nil
                continue
            }
            document.fields = document.fields.filter { names.contains($0.key) }
            liveFields[thing] = document.fields.isEmpty ? nil : document
        }
        return touched.filter { before[$0] != thingGroups(ofThing: $0) }
    }

    /// The dynamic groups' parsed queries, from the stored groups (at load).
    mutating func loadDynamicQueries() {
        for group in thingGroups.values {
            if let text = group.queryString, let query = try? FleetQuery.parse(text) { dynamicQueries[group.name] = query }
        }
    }
}
