import Foundation

/// A billing group (botocore `iot`: CreateBillingGroup and friends): a flat set of things, each thing
/// in at most one. AWS uses them to split the bill; here they group things for scripts and queries.
public struct BillingGroup: Sendable, Hashable, Codable {
    public var name: String
    public var billingGroupID: String
    public var description: String?
    public var version: Int
    public var createdAt: Double
}

extension RegistryState {
    /// CreateBillingGroup. The same group again returns it; with another description it is a conflict.
    public mutating func createBillingGroup(name: String, description: String?, now: Double) throws(RegistryError) -> BillingGroup {
        try ThingRules.checkName(name, field: "billingGroupName")
        try Self.checkGroupProperties(description: description, attributes: [:])
        if let existing = billingGroups[name] {
            guard existing.description == description else {
                throw RegistryError(.resourceAlreadyExists, "Billing group \(name) already exists with different properties.",
                                    resourceID: existing.billingGroupID, resourceARN: arns.billingGroup(name))
            }
            return existing
        }
        let group = BillingGroup(name: name, billingGroupID: UUID().uuidString.lowercased(), description: description, version: 1, createdAt: now)
        billingGroups[name] = group
        return group
    }

    public func billingGroup(named name: String) throws(RegistryError) -> BillingGroup {
        try ThingRules.checkName(name, field: "billingGroupName")
        guard let group = billingGroups[name] else {
            throw RegistryError(.resourceNotFound, "Billing group \(name) cannot be found.")
        }
        return group
    }

    /// UpdateBillingGroup: the description (an empty one removes it); the new version.
    public mutating func updateBillingGroup(name: String, description: String?, expectedVersion: Int?) throws(RegistryError) -> Int {
        var group = try billingGroup(named: name)
        if let expectedVersion, expectedVersion != group.version {
            throw RegistryError(.versionConflict, "The version of billing group \(name) is \(group.version), not \(expectedVersion).")
        }
        try Self.checkGroupProperties(description: description, attributes: [:])
        group.description = description?.isEmpty == true ? nil : description
        group.version += 1
        billingGroups[name] = group
        return group.version
    }

    /// DeleteBillingGroup: its things leave it; deleting one that does not exist succeeds.
    public mutating func deleteBillingGroup(name: String, expectedVersion: Int?) throws(RegistryError) {
        try ThingRules.checkName(name, field: "billingGroupName")
        guard let group = billingGroups[name] else { return }
        if let expectedVersion, expectedVersion != group.version {
            throw RegistryError(.versionConflict, "The version of billing group \(name) is \(group.version), not \(expectedVersion).")
        }
        billingGroups[name] = nil
        forgetTags(of: arns.billingGroup(name))
        for (thingName, thing) in things where thing.billingGroupName == name { things[thingName]?.billingGroupName = nil }
    }

    /// ListBillingGroups, by name, optionally with a name prefix.
    public func listBillingGroups(nextToken: String?, maxResults: Int?, namePrefix: String?) throws(RegistryError)
        -> (groups: [BillingGroup], nextToken: String?)
    {
        if let namePrefix { try ThingRules.checkName(namePrefix, field: "namePrefixFilter") }
        let selected = billingGroups.values.filter { namePrefix.map($0.name.hasPrefix) ?? true }.sorted { $0.name < $1.name }
        let page = try Self.page(selected, key: \.name, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// The billing group named by name or ARN (one of them, and they must agree).
    public func billingGroupName(name: String?, arn: String?) throws(RegistryError) -> String {
        try resolveName(name: name, arn: arn, prefix: arns.billingGroup(""), field: "billingGroup")
    }

    /// The thing named by name or ARN.
    public func thingName(name: String?, arn: String?) throws(RegistryError) -> String {
        try resolveName(name: name, arn: arn, prefix: arns.thing(""), field: "thing")
    }

    private func resolveName(name: String?, arn: String?, prefix: String, field: String) throws(RegistryError) -> String {
        let fromARN = try arn.map { text throws(RegistryError) -> String in
            guard text.hasPrefix(prefix), text.count > prefix.count else {
                throw RegistryError(.invalidRequest, "\(field)Arn must be an ARN of this account and region (\(prefix)...).")
            }
            return String(text.dropFirst(prefix.count))
        }
        switch (name, fromARN) {
        case (nil, nil): throw RegistryError(.invalidRequest, "\(field)Name or \(field)Arn is required.")
        case (let name?, let named?) where name != named:
            throw RegistryError(.invalidRequest, "\(field)Name and \(field)Arn name different resources.")
        default: return name ?? fromARN!
        }
    }

    /// AddThingToBillingGroup: a thing is in one billing group at most, so it leaves any other.
    public mutating func addThingToBillingGroup(thingName: String, groupName: String) throws(RegistryError) {
        var thing = try thing(named: thingName)
        _ = try billingGroup(named: groupName)
        guard thing.billingGroupName != groupName else { return }
        // As on AWS, the thing's version stays: membership is not an update of the thing.
        thing.billingGroupName = groupName
        things[thingName] = thing
    }

    /// RemoveThingFromBillingGroup: a thing that is not in the group stays as it is.
    public mutating func removeThingFromBillingGroup(thingName: String, groupName: String) throws(RegistryError) {
        var thing = try thing(named: thingName)
        _ = try billingGroup(named: groupName)
        guard thing.billingGroupName == groupName else { return }
        thing.billingGroupName = nil
        things[thingName] = thing
    }

    /// ListThingsInBillingGroup, by thing name.
    public func listThingsInBillingGroup(groupName: String, nextToken: String?, maxResults: Int?) throws(RegistryError)
        -> (things: [String], nextToken: String?)
    {
        _ = try billingGroup(named: groupName)
        let names = things.values.filter { $0.billingGroupName == groupName }.map(\.name).sorted()
        let page = try Self.page(names, key: \.self, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }
}
