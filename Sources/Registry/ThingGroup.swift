import Foundation

/// A static thing group: a named set of things with attributes, in a hierarchy fixed at creation.
/// Policies attached to a group apply to its things and to the things of its descendants.
public struct ThingGroup: Sendable, Hashable, Codable {
    public var name: String
    public var thingGroupID: String
    public var parentName: String?
    public var description: String?
    public var attributes: [String: String]
    public var version: Int
    public var createdAt: Double
    /// A dynamic group's fleet-indexing query: its members are the things it matches, always.
    public var queryString: String?
    public var indexName: String?
    public var queryVersion: String?

    public var isDynamic: Bool { queryString != nil }
}

/// AWS's quotas for thing groups (reference 9.2).
public enum ThingGroupRules {
    public static let maximumDepth = 7
    public static let maximumChildren = 100
    public static let maximumAttributes = 50
    public static let maximumGroupsPerThing = 10
    public static let maximumDescriptionLength = 2028
}

extension RegistryState {
    /// CreateThingGroup. The same group again returns it; a group's parent is fixed here.
    public mutating func createThingGroup(name: String, parentName: String?, description: String?, attributes: [String: String],
                                          now: Double) throws(RegistryError) -> ThingGroup {
        try ThingRules.checkName(name, field: "thingGroupName")
        try Self.checkGroupProperties(description: description, attributes: attributes)
        if let existing = thingGroups[name] {
            guard existing.parentName == parentName, existing.description == description, existing.attributes == attributes else {
                throw RegistryError(.resourceAlreadyExists, "Thing Group \(name) already exists in current account with different properties",
                                    resourceID: existing.thingGroupID, resourceARN: arns.thingGroup(name))
            }
            return existing
        }
        if let parentName {
            guard try !thingGroup(named: parentName).isDynamic else {
                throw RegistryError(.invalidRequest, "A dynamic thing group (\(parentName)) cannot be a parent.")
            }
            guard ancestors(of: parentName).count + 2 <= ThingGroupRules.maximumDepth else {
                throw RegistryError(.invalidRequest, "A thing group hierarchy is at most \(ThingGroupRules.maximumDepth) levels deep.")
            }
            guard thingGroups.values.filter({ $0.parentName == parentName }).count < ThingGroupRules.maximumChildren else {
                throw RegistryError(.invalidRequest, "Thing group \(parentName) already has \(ThingGroupRules.maximumChildren) child groups.")
            }
        }
        let group = ThingGroup(name: name, thingGroupID: UUID().uuidString.lowercased(), parentName: parentName, description: description,
                               attributes: attributes, version: 1, createdAt: now)
        thingGroups[name] = group
        return group
    }

    public func thingGroup(named name: String) throws(RegistryError) -> ThingGroup {
        try ThingRules.checkName(name, field: "thingGroupName")
        guard let group = thingGroups[name] else {
            throw RegistryError(.resourceNotFound, "Thing group \(name) cannot be found.")
        }
        return group
    }

    /// The group's ancestors, its parent first.
    public func ancestors(of name: String) -> [ThingGroup] {
        var chain: [ThingGroup] = []
        var current = thingGroups[name]?.parentName
        while let parent = current, let group = thingGroups[parent], chain.count <= ThingGroupRules.maximumDepth {
            chain.append(group)
            current = group.parentName
        }
        return chain
    }

    /// The group and every group below it.
    func descendants(of name: String) -> [String] {
        var found = [name]
        var index = 0
        while index < found.count {
            let parent = found[index]
            found += thingGroups.values.filter { $0.parentName == parent }.map(\.name).sorted()
            index += 1
        }
        return found
    }

    /// UpdateThingGroup: description and attributes (merged with `merge`, an empty value removing one).
    public mutating func updateThingGroup(name: String, description: String?, attributes: [String: String]?, merge: Bool,
                                          expectedVersion: Int?) throws(RegistryError) -> Int {
        var group = try thingGroup(named: name)
        if let expectedVersion, expectedVersion != group.version {
            throw RegistryError(.versionConflict, "The version of thing group \(name) is \(group.version), not \(expectedVersion).")
        }
        if let description { group.description = description }
        if let attributes {
            var updated = merge ? group.attributes : [:]
            for (key, value) in attributes {
                if merge && value.isEmpty { updated[key] = nil } else { updated[key] = value }
            }
            group.attributes = updated
        }
        try Self.checkGroupProperties(description: group.description, attributes: group.attributes)
        group.version += 1
        thingGroups[name] = group
        return group.version
    }

    /// DeleteThingGroup: not while it has child groups; deleting one that does not exist succeeds. Its
    /// memberships and policy attachments go with it.
    public mutating func deleteThingGroup(name: String, expectedVersion: Int?) throws(RegistryError) {
        try ThingRules.checkName(name, field: "thingGroupName")
        guard let group = thingGroups[name] else { return }
        if let expectedVersion, expectedVersion != group.version {
            throw RegistryError(.versionConflict, "The version of thing group \(name) is \(group.version), not \(expectedVersion).")
        }
        if thingGroups.values.contains(where: { $0.parentName == name }) {
            throw RegistryError(.invalidRequest, "Cannot delete thing group : \(name) when there are still child groups attached to it")
        }
        thingGroups[name] = nil
        dynamicQueries[name] = nil
        forgetTags(of: arns.thingGroup(name))
        for thing in groupMemberships.keys where groupMemberships[thing]?.contains(name) == true {
            groupMemberships[thing]?.remove(name)
        }
        let arn = arns.thingGroup(name)
        for policy in policyTargets.keys where policyTargets[policy]?.contains(arn) == true { policyTargets[policy]?.remove(arn) }
    }

    /// ListThingGroups: all groups, the roots only (`recursive` false), or a parent's children or
    /// descendants; optionally by name prefix.
    public func listThingGroups(nextToken: String?, maxResults: Int?, parentGroup: String?, namePrefix: String?, recursive: Bool?)
        throws(RegistryError) -> (groups: [ThingGroup], nextToken: String?)
    {
        var selected: [ThingGroup]
        if let parentGroup {
            _ = try thingGroup(named: parentGroup)
            selected = recursive == true
                ? descendants(of: parentGroup).dropFirst().compactMap { thingGroups[$0] }
                : thingGroups.values.filter { $0.parentName == parentGroup }
        } else {
            selected = recursive == false ? thingGroups.values.filter { $0.parentName == nil } : Array(thingGroups.values)
        }
        if let namePrefix { selected = selected.filter { $0.name.hasPrefix(namePrefix) } }
        let page = try Self.page(selected.sorted { $0.name < $1.name }, key: \.name, marker: nextToken, pageSize: maxResults, maximum: 250,
                                 what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    // MARK: membership

    /// AddThingToThingGroup: at most ten groups per thing, and never two groups of one hierarchy.
    public mutating func addThingToThingGroup(thingName: String, groupName: String) throws(RegistryError) {
        _ = try thing(named: thingName)
        guard try !thingGroup(named: groupName).isDynamic else {
            throw RegistryError(.invalidRequest, "Cannot add a thing to the dynamic thing group \(groupName): its query decides its members.")
        }
        var groups = groupMemberships[thingName, default: []]
        guard !groups.contains(groupName) else { return }
        guard groups.count < ThingGroupRules.maximumGroupsPerThing else {
            throw RegistryError(.invalidRequest, "Thing \(thingName) is already in \(ThingGroupRules.maximumGroupsPerThing) thing groups.")
        }
        let root = rootGroup(of: groupName)
        if let other = groups.sorted().first(where: { rootGroup(of: $0) == root }) {
            throw RegistryError(.invalidRequest, "Thing \(thingName) is already in thing group \(other) of the same hierarchy as \(groupName).")
        }
        groups.insert(groupName)
        groupMemberships[thingName] = groups
    }

    /// RemoveThingFromThingGroup: removing what is not there is not an error.
    public mutating func removeThingFromThingGroup(thingName: String, groupName: String) throws(RegistryError) {
        _ = try thing(named: thingName)
        _ = try thingGroup(named: groupName)
        groupMemberships[thingName]?.remove(groupName)
        if groupMemberships[thingName]?.isEmpty == true { groupMemberships[thingName] = nil }
    }

    /// The groups a thing is in, by name: its static groups and the dynamic groups whose query it matches.
    public func thingGroups(ofThing thingName: String) -> [String] {
        let member = groupMemberships[thingName, default: []]
        guard !dynamicQueries.isEmpty, let thing = things[thingName] else { return member.sorted() }
        let document = membershipDocument(thing: thing)
        return member.union(dynamicQueries.filter { $0.value.matches(document) }.keys).sorted()
    }

    /// ListThingsInThingGroup, with the things of descendant groups when `recursive`.
    public func listThingsInThingGroup(groupName: String, recursive: Bool, nextToken: String?, maxResults: Int?) throws(RegistryError)
        -> (things: [String], nextToken: String?)
    {
        _ = try thingGroup(named: groupName)
        let groups = Set(recursive ? descendants(of: groupName) : [groupName])
        var members = Set(groupMemberships.filter { !$0.value.isDisjoint(with: groups) }.keys)
        for group in groups { if let query = dynamicQueries[group] { members.formUnion(things.values.filter { query.matches(membershipDocument(thing: $0)) }.map(\.name)) } }
        let names = members.sorted()
        let page = try Self.page(names, key: \.self, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// ListThingGroupsForThing.
    public func listThingGroupsForThing(thingName: String, nextToken: String?, maxResults: Int?) throws(RegistryError)
        -> (groups: [String], nextToken: String?)
    {
        _ = try thing(named: thingName)
        let page = try Self.page(thingGroups(ofThing: thingName), key: \.self, marker: nextToken, pageSize: maxResults, maximum: 250,
                                 what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    func rootGroup(of name: String) -> String { ancestors(of: name).last?.name ?? name }

    static func checkGroupProperties(description: String?, attributes: [String: String]) throws(RegistryError) {
        if let description, description.count > ThingGroupRules.maximumDescriptionLength {
            throw RegistryError(.invalidRequest, "thingGroupDescription is longer than \(ThingGroupRules.maximumDescriptionLength) characters.")
        }
        guard attributes.count <= ThingGroupRules.maximumAttributes else {
            throw RegistryError(.invalidRequest, "A thing group has at most \(ThingGroupRules.maximumAttributes) attributes.")
        }
        try ThingRules.checkAttributes(attributes, hasType: true)
    }
}
