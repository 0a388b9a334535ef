import Foundation

/// Whether the registry events of one type are published (UpdateEventConfigurations), and since when.
public struct EventConfigurationRecord: Sendable, Hashable, Codable {
    public var enabled: Bool
    public var createdAt: Double
    public var lastModifiedAt: Double
}

/// Registry events (reference 4.8): `$aws/events/thing/...`, `thingGroup`, `thingType`,
/// `thingGroupMembership`, `thingGroupHierarchy` and `thingTypeAssociation`, published when the registry
/// changes and the event type is enabled, with AWS's payloads. All types are off until enabled, as on AWS.
public enum RegistryEvents {
    /// The `EventType` enum of the control plane, in botocore's order.
    public static let types = ["THING", "THING_GROUP", "THING_TYPE", "THING_GROUP_MEMBERSHIP", "THING_GROUP_HIERARCHY",
                               "THING_TYPE_ASSOCIATION", "JOB", "JOB_EXECUTION", "POLICY", "CERTIFICATE", "CA_CERTIFICATE"]

    public struct Event: Sendable, Hashable {
        public var topic: String
        public var payload: String
    }

    /// The events that take `old` to `new`, for the enabled types only.
    /// - Parameter changed: the records that differ between the two states (`RegistryUpdate.changedKeys`),
    ///   so only those are compared; nil compares everything.
    public static func between(_ old: RegistryState, _ new: RegistryState, changed: Set<RegistryRecordKey>? = nil,
                               accountID: String, nowMilliseconds: Int64) -> [Event] {
        let enabled = Set(new.eventConfigurations.filter(\.value.enabled).keys)
        guard !enabled.isEmpty else { return [] }
        var events: [Event] = []
        func emit(_ topic: String, _ fields: [String: Any]) {
            var object = fields
            object["eventId"] = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            object["timestamp"] = nowMilliseconds
            object["accountId"] = accountID
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
            events.append(Event(topic: topic, payload: String(decoding: data, as: UTF8.self)))
        }
        /// The names of `kind` to look at: the changed ones, or all of both states'.
        func names<T>(_ kind: RegistryRecordKind, _ old: [String: T], _ new: [String: T]) -> [String] {
            if let changed { return changed.filter { $0.kind == kind }.map(\.key).sorted() }
            return Set(old.keys).union(new.keys).sorted()
        }
        func operations<T: Equatable>(_ kind: RegistryRecordKind, _ old: [String: T], _ new: [String: T],
                                      same: (T, T) -> Bool = { $0 == $1 }) -> [(String, String, T)] {
            var created: [(String, String, T)] = [], deleted: [(String, String, T)] = []
            for name in names(kind, old, new) {
                switch (old[name], new[name]) {
                case (let before?, let after?) where !same(before, after): created.append((name, "updated", after))
                case (nil, let after?): created.append((name, "created", after))
                case (let before?, nil): deleted.append((name, "deleted", before))
                default: break
                }
            }
            return created + deleted
        }

        if enabled.contains("THING") {
            // Joining or leaving a billing group is not an update of the thing (its version stays too).
            let sameThing = { (a: Thing, b: Thing) -> Bool in
                var a = a
                a.billingGroupName = b.billingGroupName
                return a == b
            }
            for (name, operation, thing) in operations(.thing, old.things, new.things, same: sameThing) {
                emit("$aws/events/thing/\(name)/\(operation)", [
                    "eventType": "THING_EVENT", "operation": operation.uppercased(), "thingId": thing.thingID, "thingName": name,
                    "versionNumber": thing.version, "thingTypeName": thing.thingTypeName ?? NSNull(), "attributes": thing.attributes,
                ])
            }
        }
        if enabled.contains("THING_TYPE") {
            for (name, operation, type) in operations(.thingType, old.thingTypes, new.thingTypes) {
                emit("$aws/events/thingType/\(name)/\(operation)", [
                    "eventType": "THING_TYPE_EVENT", "operation": operation.uppercased(), "thingTypeId": type.thingTypeID,
                    "thingTypeName": name, "isDeprecated": type.deprecated,
                    "deprecationDate": type.deprecatedAt.map { Int64($0 * 1000) as Any } ?? NSNull(),
                    "searchableAttributes": type.searchableAttributes, "propagatingAttributes": [String](),
                    "description": type.description ?? NSNull(),
                ])
            }
        }
        if enabled.contains("THING_GROUP") {
            for (name, operation, group) in operations(.thingGroup, old.thingGroups, new.thingGroups) {
                let state = operation == "deleted" ? old : new
                let parent = group.parentName.flatMap { state.thingGroups[$0] }
                let ancestors = state.ancestors(of: name).reversed().map { ["groupArn": new.arns.thingGroup($0.name), "groupId": $0.thingGroupID] }
                emit("$aws/events/thingGroup/\(name)/\(operation)", [
                    "eventType": "THING_GROUP_EVENT", "operation": operation.uppercased(), "thingGroupId": group.thingGroupID,
                    "thingGroupName": name, "versionNumber": group.version, "parentGroupName": group.parentName ?? NSNull(),
                    "parentGroupId": parent?.thingGroupID ?? NSNull(), "description": group.description ?? NSNull(),
                    "rootToParentThingGroups": ancestors, "attributes": group.attributes, "dynamicGroupMappingId": NSNull(),
                ])
            }
        }
        if enabled.contains("THING_GROUP_HIERARCHY") {
            // A group created under a parent, or deleted from under it (the parent is fixed at creation).
            for (name, operation, group) in operations(.thingGroup, old.thingGroups, new.thingGroups) where operation != "updated" {
                guard let parentName = group.parentName, let parent = (new.thingGroups[parentName] ?? old.thingGroups[parentName]) else { continue }
                let change = operation == "created" ? "added" : "removed"
                emit("$aws/events/thingGroupHierarchy/thingGroup/\(parentName)/childThingGroup/\(name)/\(change)", [
                    "eventType": "THING_GROUP_HIERARCHY_EVENT", "operation": change.uppercased(), "thingGroupId": parent.thingGroupID,
                    "thingGroupName": parentName, "childGroupId": group.thingGroupID, "childGroupName": name,
                ])
            }
        }
        if enabled.contains("THING_GROUP_MEMBERSHIP") {
            for thingName in names(.groupMemberships, old.groupMemberships, new.groupMemberships) {
                let before = old.groupMemberships[thingName] ?? [], after = new.groupMemberships[thingName] ?? []
                for (groups, change) in [(after.subtracting(before), "added"), (before.subtracting(after), "removed")] {
                    for groupName in groups.sorted() {
                        let group = new.thingGroups[groupName] ?? old.thingGroups[groupName]
                        let thing = new.things[thingName] ?? old.things[thingName]
                        emit("$aws/events/thingGroupMembership/thingGroup/\(groupName)/thing/\(thingName)/\(change)", [
                            "eventType": "THING_GROUP_MEMBERSHIP_EVENT", "operation": change.uppercased(),
                            "groupArn": new.arns.thingGroup(groupName), "groupId": group?.thingGroupID ?? NSNull(),
                            "thingArn": new.arns.thing(thingName), "thingId": thing?.thingID ?? NSNull(),
                            "membershipId": "\(group?.thingGroupID ?? groupName):\(thing?.thingID ?? thingName)",
                        ])
                    }
                }
            }
        }
        if enabled.contains("THING_TYPE_ASSOCIATION") {
            for name in names(.thing, old.things, new.things) {
                let before = old.things[name]?.thingTypeName, after = new.things[name]?.thingTypeName
                guard before != after else { continue }
                let thing = new.things[name] ?? old.things[name]
                for (type, change) in [(before, "REMOVED"), (after, "ADDED")] {
                    guard let type else { continue }
                    emit("$aws/events/thingTypeAssociation/thing/\(name)/\(type)", [
                        "eventType": "THING_TYPE_ASSOCIATION_EVENT", "operation": change, "thingId": thing?.thingID ?? "",
                        "thingName": name, "thingTypeName": type,
                    ])
                }
            }
        }
        return events
    }
}

extension RegistryState {
    /// UpdateEventConfigurations: `{"THING": true, ...}` for the types named; unknown types are refused.
    public mutating func updateEventConfigurations(_ changes: [String: Bool], now: Double) throws(RegistryError) {
        for type in changes.keys where !RegistryEvents.types.contains(type) {
            throw RegistryError(.invalidRequest, "Unknown event type \(type.prefix(64)); valid types: \(RegistryEvents.types.joined(separator: ", ")).")
        }
        for (type, enabled) in changes {
            let created = eventConfigurations[type]?.createdAt ?? now
            eventConfigurations[type] = EventConfigurationRecord(enabled: enabled, createdAt: created, lastModifiedAt: now)
        }
    }

    /// DescribeEventConfigurations: every type with whether it is enabled, and when the settings were
    /// first and last changed (nil before any change).
    public var eventConfigurationSummary: (enabled: [String: Bool], createdAt: Double?, lastModifiedAt: Double?) {
        var enabled: [String: Bool] = [:]
        for type in RegistryEvents.types { enabled[type] = eventConfigurations[type]?.enabled ?? false }
        return (enabled, eventConfigurations.values.map(\.createdAt).min(), eventConfigurations.values.map(\.lastModifiedAt).max())
    }
}
