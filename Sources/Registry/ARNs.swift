/// The account and region every ARN names (`arn:aws:iot:<region>:<account>:<type>/<name>`).
public struct ARNs: Sendable, Hashable {
    public var region: String
    public var accountID: String

    public init(region: String, accountID: String) {
        self.region = region
        self.accountID = accountID
    }

    /// `arn:aws:iot:<region>:<account>:`, before a resource type and name.
    public var prefix: String { arn("") }

    public func policy(_ name: String) -> String { arn("policy/\(name)") }
    public func certificate(_ id: String) -> String { arn("cert/\(id)") }
    public func thing(_ name: String) -> String { arn("thing/\(name)") }
    public func caCertificate(_ id: String) -> String { arn("cacert/\(id)") }
    public func thingType(_ name: String) -> String { arn("thingtype/\(name)") }
    public func thingGroup(_ name: String) -> String { arn("thinggroup/\(name)") }
    public func billingGroup(_ name: String) -> String { arn("billinggroup/\(name)") }
    public func roleAlias(_ name: String) -> String { arn("rolealias/\(name)") }
    public func topicRule(_ name: String) -> String { arn("rule/\(name)") }
    public func topicRuleDestination(_ record: TopicRuleDestinationRecord) -> String { arn("ruledestination/\(record.kind)/\(record.id)") }

    /// The id in a topic rule destination ARN of this account and region, nil for any other ARN.
    public func topicRuleDestinationID(inARN text: String) -> String? {
        for kind in ["http", "vpc"] {
            let prefix = arn("ruledestination/\(kind)/")
            guard text.hasPrefix(prefix) else { continue }
            let id = text.dropFirst(prefix.count)
            return !id.isEmpty && id.count <= 64 && id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) ? String(id) : nil
        }
        return nil
    }
    /// The default domain's ARN has no id: `domainconfiguration/iot:Data-ATS`.
    public func domainConfiguration(_ name: String, id: String) -> String {
        arn(id.isEmpty ? "domainconfiguration/\(name)" : "domainconfiguration/\(name)/\(id)")
    }
    /// An imported server certificate: `arn:aws:acm:<region>:<account>:certificate/<id>`.
    public func acmCertificate(_ id: String) -> String { "arn:aws:acm:\(region):\(accountID):certificate/\(id)" }

    /// The id in an ACM certificate ARN of this account and region, nil for any other ARN.
    public func acmCertificateID(inARN text: String) -> String? {
        let prefix = "arn:aws:acm:\(region):\(accountID):certificate/"
        guard text.hasPrefix(prefix) else { return nil }
        let id = text.dropFirst(prefix.count)
        return !id.isEmpty && id.count <= 128 && id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) ? String(id) : nil
    }

    /// The name in a thing group ARN of this account and region, nil for any other ARN.
    public func thingGroupName(inARN text: String) -> String? {
        let prefix = arn("thinggroup/")
        guard text.hasPrefix(prefix) else { return nil }
        return String(text.dropFirst(prefix.count))
    }

    /// The certificate id in a certificate ARN of this account and region, nil for any other ARN.
    public func certificateID(inARN text: String) -> String? {
        let prefix = arn("cert/")
        guard text.hasPrefix(prefix) else { return nil }
        return String(text.dropFirst(prefix.count))
    }

    private func arn(_ resource: String) -> String { "arn:aws:iot:\(region):\(accountID):\(resource)" }
}
