/// TagResource, UntagResource, ListTagsForResource, and the `tags` of the Create calls that take them.
/// Taggable here: policies, thing groups, billing groups, thing types, CA certificates, domain configurations.
public enum TagRules {
    public static let maximumTags = 50

    public static func check(_ tags: [String: String]) throws(RegistryError) {
        for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
            guard (1...128).contains(key.count) else { throw RegistryError(.invalidRequest, "A tag key must be 1 to 128 characters.") }
            guard !key.lowercased().hasPrefix("aws:") else {
                throw RegistryError(.invalidRequest, "Tag keys starting with aws: are reserved (\(key.prefix(128))).")
            }
            guard value.count <= 256 else { throw RegistryError(.invalidRequest, "The value of tag \(key) is longer than 256 characters.") }
        }
    }
}

extension RegistryState {
    /// The resource an ARN names must exist and be taggable.
    func checkTaggable(_ arn: String) throws(RegistryError) {
        let prefix = arns.policy("").dropLast("policy/".count)
        guard arn.hasPrefix(prefix) else {
            throw RegistryError(.invalidRequest, "resourceArn must be an ARN of this account and region.")
        }
        let resource = arn.dropFirst(prefix.count)
        guard let slash = resource.firstIndex(of: "/") else {
            throw RegistryError(.invalidRequest, "resourceArn names no resource.")
        }
        let name = String(resource[resource.index(after: slash)...])
        switch resource[..<slash] {
        case "policy": _ = try policy(named: name)
        case "thinggroup": _ = try thingGroup(named: name)
        case "billinggroup": _ = try billingGroup(named: name)
        case "rolealias": _ = try roleAlias(named: name)
        case "rule":
            guard topicRules[name] != nil else { throw RegistryError(.resourceNotFound, "No topic rule \(name.prefix(128)).") }
        case "thingtype": _ = try thingType(named: name)
        case "cacert": _ = try caCertificate(id: name)
        case "domainconfiguration":
            let configurationName = String(name.split(separator: "/").first ?? "")
            guard let record = domainConfigurations[configurationName], arns.domainConfiguration(record.name, id: record.id) == arn else {
                throw RegistryError(.resourceNotFound, "No domain configuration \(arn.prefix(256)).")
            }
        default: throw RegistryError(.invalidRequest, "Resources of type \(resource[..<slash].prefix(32)) cannot be tagged.")
        }
    }

    public mutating func tagResource(arn: String, tags newTags: [String: String]) throws(RegistryError) {
        try checkTaggable(arn)
        try TagRules.check(newTags)
        let merged = tags[arn, default: [:]].merging(newTags) { _, new in new }
        guard merged.count <= TagRules.maximumTags else {
            throw RegistryError(.limitExceeded, "A resource has at most \(TagRules.maximumTags) tags.")
        }
        tags[arn] = merged
    }

    public mutating func untagResource(arn: String, keys: [String]) throws(RegistryError) {
        try checkTaggable(arn)
        for key in keys { tags[arn]?[key] = nil }
        if tags[arn]?.isEmpty == true { tags[arn] = nil }
    }

    public func listTags(arn: String, nextToken: String?) throws(RegistryError) -> (tags: [(key: String, value: String)], nextToken: String?) {
        try checkTaggable(arn)
        let sorted = tags[arn, default: [:]].sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        let page = try Self.page(sorted, key: \.key, marker: nextToken, pageSize: nil, maximum: 250, token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// Drops the tags of a deleted resource.
    mutating func forgetTags(of arn: String) { tags[arn] = nil }
}
