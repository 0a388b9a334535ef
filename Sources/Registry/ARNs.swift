/// The account and region every ARN names (`arn:aws:iot:<region>:<account>:<type>/<name>`).
public struct ARNs: Sendable, Hashable {
    public var region: String
    public var accountID: String

    public init(region: String, accountID: String) {
        self.region = region
        self.accountID = accountID
    }

    public func policy(_ name: String) -> String { arn("policy/\(name)") }
    public func certificate(_ id: String) -> String { arn("cert/\(id)") }
    public func thing(_ name: String) -> String { arn("thing/\(name)") }

    private func arn(_ resource: String) -> String { "arn:aws:iot:\(region):\(accountID):\(resource)" }
}
