import Foundation

/// A thing type: a description and up to three searchable attributes shared by the things of that type,
/// which may then have 50 attributes instead of 3. Deprecated types take no new things and, after five
/// minutes, may be deleted.
public struct ThingType: Sendable, Hashable, Codable {
    public var name: String
    public var thingTypeID: String
    public var description: String?
    public var searchableAttributes: [String]
    public var deprecated: Bool
    public var deprecatedAt: Double?
    public var createdAt: Double
}

public enum ThingTypeRules {
    public static let maximumSearchableAttributes = 3
    public static let maximumDescriptionLength = 2028
    /// AWS: a thing type must stay deprecated five minutes before it can be deleted.
    public static let deletionDelaySeconds: Double = 300
}

extension RegistryState {
    /// CreateThingType. Creating one that exists with the same properties returns it.
    public mutating func createThingType(name: String, description: String?, searchableAttributes: [String], now: Double) throws(RegistryError) -> ThingType {
        try ThingRules.checkName(name, field: "thingTypeName")
        try Self.checkThingTypeProperties(description: description, searchableAttributes: searchableAttributes)
        if let existing = thingTypes[name] {
            guard existing.description == description, existing.searchableAttributes == searchableAttributes else {
                throw RegistryError(.resourceAlreadyExists, "Thing type \(name) already exists with different properties.",
                                    resourceID: existing.thingTypeID, resourceARN: arns.thingType(name))
            }
            return existing
        }
        let type = ThingType(name: name, thingTypeID: UUID().uuidString.lowercased(), description: description,
                             searchableAttributes: searchableAttributes, deprecated: false, deprecatedAt: nil, createdAt: now)
        thingTypes[name] = type
        return type
    }

    public func thingType(named name: String) throws(RegistryError) -> ThingType {
        try ThingRules.checkName(name, field: "thingTypeName")
        guard let type = thingTypes[name] else {
            throw RegistryError(.resourceNotFound, "Thing type \(name) not found.")
        }
        return type
    }

    /// UpdateThingType: the description and searchable attributes.
    public mutating func updateThingType(name: String, description: String?, searchableAttributes: [String]?) throws(RegistryError) {
        var type = try thingType(named: name)
        try Self.checkThingTypeProperties(description: description, searchableAttributes: searchableAttributes ?? type.searchableAttributes)
        if let description { type.description = description }
        if let searchableAttributes { type.searchableAttributes = searchableAttributes }
        thingTypes[name] = type
    }

    /// DeprecateThingType, or undo it.
    public mutating func deprecateThingType(name: String, undo: Bool, now: Double) throws(RegistryError) {
        var type = try thingType(named: name)
        type.deprecated = !undo
        type.deprecatedAt = undo ? nil : (type.deprecatedAt ?? now)
        thingTypes[name] = type
    }

    /// DeleteThingType: only a type deprecated at least five minutes ago that no thing has.
    public mutating func deleteThingType(name: String, now: Double) throws(RegistryError) {
        let type = try thingType(named: name)
        guard type.deprecated, let since = type.deprecatedAt else {
            throw RegistryError(.invalidRequest, "Thing type \(name) must be deprecated before it can be deleted.")
        }
        guard now - since >= ThingTypeRules.deletionDelaySeconds else {
            throw RegistryError(.invalidRequest, "Thing type \(name) was deprecated less than 5 minutes ago; it can be deleted 5 minutes after deprecation.")
        }
        if let thing = things.values.first(where: { $0.thingTypeName == name }) {
            throw RegistryError(.invalidRequest, "Thing type \(name) is still associated with thing \(thing.name).")
        }
        thingTypes[name] = nil
        forgetTags(of: arns.thingType(name))
    }

    /// ListThingTypes, by name, optionally only the one named.
    public func listThingTypes(nextToken: String?, maxResults: Int?, thingTypeName: String?) throws(RegistryError) -> (thingTypes: [ThingType], nextToken: String?) {
        let types = thingTypes.values.filter { thingTypeName == nil || $0.name == thingTypeName }.sorted { $0.name < $1.name }
        let page = try Self.page(types, key: \.name, marker: nextToken, pageSize: maxResults, maximum: 250, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// The type a thing may be given now: it exists and is not deprecated (AWS's texts, typos included).
    func assignableThingType(_ name: String, creating: Bool) throws(RegistryError) -> ThingType {
        let type = try thingType(named: name)
        guard !type.deprecated else {
            throw RegistryError(.invalidRequest, creating ? "Can not create new thing with depreated thing type:\(name)"
                                                          : "Can not update a thing to use deprecated thing type: \(name)")
        }
        return type
    }

    static func checkThingTypeProperties(description: String?, searchableAttributes: [String]) throws(RegistryError) {
        if let description, description.count > ThingTypeRules.maximumDescriptionLength {
            throw RegistryError(.invalidRequest, "thingTypeDescription is longer than \(ThingTypeRules.maximumDescriptionLength) characters.")
        }
        guard searchableAttributes.count <= ThingTypeRules.maximumSearchableAttributes else {
            throw RegistryError(.invalidRequest, "A thing type has at most \(ThingTypeRules.maximumSearchableAttributes) searchable attributes.")
        }
        try ThingRules.checkAttributes(Dictionary(searchableAttributes.map { ($0, "") }, uniquingKeysWith: { first, _ in first }), hasType: true)
    }
}
