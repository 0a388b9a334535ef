import Foundation

extension RegistryState {
    /// CreateThing. Creating a thing that exists with the same type and attributes returns it (AWS's
    /// call is idempotent); with different ones it is a conflict.
    public mutating func createThing(name: String, thingTypeName: String?, attributes: [String: String], billingGroupName: String? = nil,
                                     now: Double) throws(RegistryError) -> Thing {
        try ThingRules.checkName(name)
        if let thingTypeName { _ = try assignableThingType(thingTypeName, creating: true) }
        try ThingRules.checkAttributes(attributes, hasType: thingTypeName != nil)
        if let billingGroupName { _ = try billingGroup(named: billingGroupName) }
        if let existing = things[name] {
            guard existing.thingTypeName == thingTypeName, existing.attributes == attributes,
                  billingGroupName == nil || existing.billingGroupName == billingGroupName else {
                throw RegistryError(.resourceAlreadyExists, "Thing \(name) already exists in account with different attributes",
                                    resourceID: existing.thingID, resourceARN: arns.thing(name))
            }
            return existing
        }
        let thing = Thing(name: name, thingID: UUID().uuidString.lowercased(), thingTypeName: thingTypeName, attributes: attributes,
                          version: 1, createdAt: now, billingGroupName: billingGroupName)
        things[name] = thing
        return thing
    }

    /// Every thing's name (the gateway notices deleted things by comparing these).
    public var thingNames: Set<String> { Set(things.keys) }

    public func thing(named name: String) throws(RegistryError) -> Thing {
        guard let thing = things[name] else {
            throw RegistryError(.resourceNotFound, "Thing \(name.prefix(128)) cannot be found.")
        }
        return thing
    }

    /// UpdateThing: attributes replaced, or merged (an empty value removes one); `expectedVersion`, when
    /// given, must be the thing's version.
    public mutating func updateThing(name: String, thingTypeName: String?, removeThingType: Bool, attributes: [String: String]?,
                                     merge: Bool, expectedVersion: Int?) throws(RegistryError) {
        var thing = try thing(named: name)
        if let expectedVersion, expectedVersion != thing.version {
            throw RegistryError(.versionConflict, "The version for thing \(name) does not match the expected version.")
        }
        if removeThingType && thingTypeName != nil {
            throw RegistryError(.invalidRequest, "removeThingType and thingTypeName cannot be given together.")
        }
        if let thingTypeName, thingTypeName != thing.thingTypeName {
            _ = try assignableThingType(thingTypeName, creating: false)
            thing.thingTypeName = thingTypeName
        }
        if removeThingType { thing.thingTypeName = nil }
        if let attributes {
            var updated = merge ? thing.attributes : [:]
            for (key, value) in attributes {
                if merge && value.isEmpty { updated[key] = nil } else { updated[key] = value }
            }
            thing.attributes = updated
        }
        // Checked after the type changed: removing the type needs the attributes down to three.
        try ThingRules.checkAttributes(thing.attributes, hasType: thing.thingTypeName != nil)
        thing.version += 1
        things[name] = thing
    }

    /// DeleteThing: deleting a thing that does not exist succeeds, as on AWS.
    public mutating func deleteThing(name: String, expectedVersion: Int?) throws(RegistryError) {
        try ThingRules.checkName(name)
        guard let thing = things[name] else { return }
        if let expectedVersion, expectedVersion != thing.version {
            throw RegistryError(.versionConflict, "The version for thing \(name) does not match the expected version.")
        }
        guard thingPrincipals[name, default: [:]].isEmpty else {
            throw RegistryError(.invalidRequest, "Cannot delete. Thing \(name) is still attached to one or more principals")
        }
        things[name] = nil
        groupMemberships[name] = nil
        liveFields[name] = nil
    }

    /// ListThings, optionally filtered by an attribute (exact value, or prefix) or thing type.
    public func listThings(nextToken: String?, maxResults: Int?, attributeName: String?, attributeValue: String?,
                           usePrefixAttributeValue: Bool, thingTypeName: String?) throws(RegistryError) -> (things: [Thing], nextToken: String?) {
        if usePrefixAttributeValue && (attributeName == nil || attributeValue == nil) {
            throw RegistryError(.invalidRequest, "usePrefixAttributeValue needs attributeName and attributeValue.")
        }
        let matching = things.values.filter { thing in
            if let thingTypeName, thing.thingTypeName != thingTypeName { return false }
            if let attributeName {
                guard let value = thing.attributes[attributeName] else { return false }
                if let attributeValue {
                    return usePrefixAttributeValue ? value.hasPrefix(attributeValue) : value == attributeValue
                }
            }
            return true
        }.sorted { $0.name < $1.name }
        let page = try Self.page(matching, key: \.name, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }
}
