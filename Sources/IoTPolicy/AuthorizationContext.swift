/// What a request is evaluated against: the values of policy variables and condition keys for this
/// connection and request (reference 3.5). Keys compare without case, as IAM's do.
///
/// Values are lists: single-valued keys hold one. Certificate fields keep every value (AWS truncates to
/// five); `iot:Certificate.Subject.Country` is the first, `.1` the second, `.List` all of them.
public struct AuthorizationContext: Sendable, Hashable {
    private(set) var values: [String: [String]] = [:]
    /// Keys whose values are never substituted into a Resource when they carry wildcard characters
    /// (AWS: certificate values with `* $ + ? #` leave the variable unresolved).
    private(set) var wildcardSensitive: Set<String> = []

    public init() {}

    /// AWS truncates certificate value arrays to five items, and values over 1024 characters do not resolve.
    public static let maximumValues = 5
    public static let maximumValueLength = 1024

    public mutating func set(_ key: String, _ value: String?) {
        values[key.lowercased()] = value.map { [$0] }
    }

    public mutating func set(_ key: String, values list: [String]) {
        values[key.lowercased()] = list
    }

    /// Certificate fields: every value, and the indexed, `.List` and AvailableKeys forms.
    public mutating func setCertificateField(_ key: String, values list: [String]) {
        let kept = Array(list.prefix(Self.maximumValues))
        guard !kept.isEmpty else { return }
        let lower = key.lowercased()
        values[lower] = [kept[0]]
        values[lower + ".list"] = kept
        for (index, value) in kept.enumerated() { values[lower + ".\(index)"] = [value] }
        wildcardSensitive.insert(lower)
        for index in kept.indices { wildcardSensitive.insert(lower + ".\(index)") }
        var available = values["iot:certificate.availablekeys"] ?? []
        if !available.contains(key) { available.append(key) }
        values["iot:certificate.availablekeys"] = available
    }

    /// All values of a key, nil when the key is absent.
    public func values(of key: String) -> [String]? { values[key.lowercased()] }

    /// The value substituted for `${key}` in a Resource or Condition, nil when it does not resolve: absent,
    /// multi-valued without an index, too long, or a certificate value with wildcard characters.
    public func substitution(for key: String) -> String? {
        let lower = key.lowercased()
        guard let list = values[lower], list.count == 1, let value = list.first else { return nil }
        guard value.utf8.count <= Self.maximumValueLength else { return nil }
        if wildcardSensitive.contains(lower), value.contains(where: { "*$+?#".contains($0) }) { return nil }
        return value
    }
}

/// The data-plane actions of reference 3.2, by their IAM names.
public enum IoTAction: String, Sendable, Hashable, CaseIterable {
    case connect = "iot:Connect"
    case publish = "iot:Publish"
    case subscribe = "iot:Subscribe"
    case receive = "iot:Receive"
    case retainPublish = "iot:RetainPublish"
    case getRetainedMessage = "iot:GetRetainedMessage"
    case listRetainedMessages = "iot:ListRetainedMessages"
    case getThingShadow = "iot:GetThingShadow"
    case updateThingShadow = "iot:UpdateThingShadow"
    case deleteThingShadow = "iot:DeleteThingShadow"
    case listNamedShadowsForThing = "iot:ListNamedShadowsForThing"
    case deleteConnection = "iot:DeleteConnection"
    case getConnection = "iot:GetConnection"
    case listSubscriptions = "iot:ListSubscriptions"
    case sendDirectMessage = "iot:SendDirectMessage"
    /// The credentials provider: a certificate asks for a role alias's temporary credentials.
    case assumeRoleWithCertificate = "iot:AssumeRoleWithCertificate"

    /// The lower-cased name statements are matched against.
    public var matchName: String { rawValue.lowercased() }

    /// The resource type in this action's ARNs (reference 3.2, 3.3).
    public var resourceType: String {
        switch self {
        case .connect, .deleteConnection, .getConnection, .listSubscriptions, .sendDirectMessage: "client/"
        case .publish, .receive, .retainPublish, .getRetainedMessage, .listRetainedMessages: "topic/"
        case .subscribe: "topicfilter/"
        case .getThingShadow, .updateThingShadow, .deleteThingShadow, .listNamedShadowsForThing: "thing/"
        case .assumeRoleWithCertificate: "rolealias/"
        }
    }
}
