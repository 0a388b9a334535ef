/// An (account, region) pair: the unit AWS isolates everything in. One gateway serves any number of
/// them; each has its own registry, shadows, broker and logs, and nothing crosses from one to another.
public struct NamespaceID: Sendable, Hashable, CustomStringConvertible {
    public var accountID: String
    public var region: String

    public init(accountID: String, region: String) {
        self.accountID = accountID
        self.region = region
    }

    public var arns: ARNs { ARNs(region: region, accountID: accountID) }

    public var description: String { "\(accountID)/\(region)" }

    /// The key of its rows in the store: "" for the default namespace (what a data folder made before
    /// namespaces existed holds), else `account/region`.
    public func storeKey(defaultNamespace: NamespaceID) -> String {
        self == defaultNamespace ? "" : "\(accountID)/\(region)"
    }

    /// The namespace a store key names; nil for a key that is not one.
    public static func fromStoreKey(_ key: String, defaultNamespace: NamespaceID) -> NamespaceID? {
        if key.isEmpty { return defaultNamespace }
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, AWSAccountID.isValid(String(parts[0])), AWSRegionName.isValid(String(parts[1])) else { return nil }
        return NamespaceID(accountID: String(parts[0]), region: String(parts[1]))
    }
}

public enum AWSAccountID {
    /// Twelve decimal digits.
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 12 && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

/// AWS region names: `us-east-1`, `ap-northeast-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`:
/// a two-letter area, optional partition labels, a direction word, and a number.
public enum AWSRegionName {
    public static func isValid(_ text: String) -> Bool {
        guard text.utf8.count <= 32 else { return false }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts.count <= 4, let first = parts.first, let last = parts.last else { return false }
        guard first.utf8.count == 2, first.utf8.allSatisfy(isLower) else { return false }
        guard !last.isEmpty, last.utf8.count <= 2, last.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
        return parts.dropFirst().dropLast().allSatisfy { !$0.isEmpty && $0.utf8.count <= 16 && $0.utf8.allSatisfy(isLower) }
    }

    private static func isLower(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }

    /// AWS's regions (all partitions, as of 2026): the namespaces made on first use when no allow list is
    /// configured. A fixed list, so a request that names a region, before its signature is checked,
    /// cannot make more than this many namespaces per account; a newer region is allowed by listing it.
    public static let known: Set<String> = [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1", "il-central-1", "me-south-1",
        "me-central-1", "mx-central-1", "sa-east-1", "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
    ]
}

/// Which namespace a device reaches by the server name (SNI) it connects to:
/// - a configured name (`devices.example.com`) or wildcard (`*.eu.example.com`, one label) maps to
///   its (account, region);
/// - `iot.<region>.localhost` and `<label>.iot.<region>.localhost` (AWS's `<prefix>-ats.iot.<region>.amazonaws.com`
///   with `localhost` for the domain, which resolves to loopback everywhere) reach that region; the
///   account is the label's when it is a known account id (optionally with `-ats`), else the default;
/// - anything else, and no name at all, reaches the default namespace.
public struct NamespaceHostNames: Sendable, Hashable {
    public var defaultNamespace: NamespaceID
    /// Lower-case names or `*.suffix` wildcards.
    public var names: [String: NamespaceID]
    /// Accounts whose id may lead a regional name.
    public var accounts: Set<String>
    /// Regions devices and API calls may use; nil allows AWS's regions (`AWSRegionName.known`) and the
    /// default namespace's.
    public var allowedRegions: Set<String>?

    public init(defaultNamespace: NamespaceID, names: [String: NamespaceID] = [:], accounts: Set<String> = [],
                allowedRegions: Set<String>? = nil) {
        self.defaultNamespace = defaultNamespace
        self.names = Dictionary(names.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.accounts = accounts.union([defaultNamespace.accountID])
        self.allowedRegions = allowedRegions
    }

    public func allows(region: String) -> Bool {
        AWSRegionName.isValid(region) && (allowedRegions?.contains(region) ?? (AWSRegionName.known.contains(region) || region == defaultNamespace.region))
    }

    /// The suffix of the built-in regional names.
    public static let regionalDomain = "localhost"

    /// The host name DescribeEndpoint answers for a namespace other than the default one.
    public func endpoint(for namespace: NamespaceID) -> String {
        namespace.accountID == defaultNamespace.accountID
            ? "iot.\(namespace.region).\(Self.regionalDomain)"
            : "\(namespace.accountID)-ats.iot.\(namespace.region).\(Self.regionalDomain)"
    }

    /// The namespace a normalized (lower-case, no trailing dot) server name reaches, nil for the default.
    public func namespace(forServerName name: String) -> NamespaceID? {
        if let exact = names[name] { return exact }
        if let dot = name.firstIndex(of: "."), let wildcard = names["*" + name[dot...]] { return wildcard }
        return regional(name)?.namespace
    }

    /// Whether a name has the shape of a regional name (`[label.]iot.<something>.localhost`), served or not.
    public func looksRegional(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return (labels.count == 3 || labels.count == 4) && labels[labels.count - 1] == Self.regionalDomain && labels[labels.count - 3] == "iot"
    }

    /// The region of a built-in regional name (`[label.]iot.<region>.localhost`) and its namespace.
    public func regional(_ name: String) -> (region: String, namespace: NamespaceID)? {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count == 3 || labels.count == 4, labels[labels.count - 1] == Self.regionalDomain,
              labels[labels.count - 3] == "iot" else { return nil }
        let region = String(labels[labels.count - 2])
        guard allows(region: region) else { return nil }
        var account = defaultNamespace.accountID
        if labels.count == 4 {
            var label = labels[0]
            if label.hasSuffix("-ats") { label = label.dropLast(4) }
            if accounts.contains(String(label)) { account = String(label) }
        }
        return (region, NamespaceID(accountID: account, region: region))
    }
}
