import Foundation

/// A topic rule destination (botocore `iot`: CreateTopicRuleDestination and friends). An HTTP destination
/// is a confirmation URL the owner of the endpoint confirmed: an http action delivers only to a URL that
/// begins with the confirmationUrl of an ENABLED destination. A VPC destination needs no confirmation.
public struct TopicRuleDestinationRecord: Sendable, Hashable, Codable {
    /// The UUID in `arn:aws:iot:<region>:<account>:ruledestination/<http|vpc>/<id>`.
    public var id: String
    public var confirmationUrl: String?
    /// VpcDestinationProperties as JSON text, for a VPC destination.
    public var vpcProperties: String?
    /// ENABLED, IN_PROGRESS, DISABLED or ERROR.
    public var status: String
    public var statusReason: String?
    public var createdAt: Double
    public var lastUpdatedAt: Double
    /// The token of the confirmation under way (never returned by the API), and when it was issued.
    public var confirmationToken: String?
    public var tokenIssuedAt: Double?
    /// Where the confirmation message asks the endpoint's owner to browse: this gateway's API address
    /// and `/confirmdestination/<token>`.
    public var enableUrl: String?

    public init(id: String, confirmationUrl: String?, vpcProperties: String?, status: String, createdAt: Double) {
        self.id = id
        self.confirmationUrl = confirmationUrl
        self.vpcProperties = vpcProperties
        self.status = status
        self.createdAt = createdAt
        self.lastUpdatedAt = createdAt
    }

    public var kind: String { confirmationUrl == nil ? "vpc" : "http" }
}

public enum TopicRuleDestinationRules {
    /// AWS's quota of destinations per account and region.
    public static let maximumDestinations = 1000
    /// A confirmation token is valid for three days.
    public static let tokenLifetime: Double = 3 * 24 * 3600
    public static let statuses: Set<String> = ["ENABLED", "IN_PROGRESS", "DISABLED", "ERROR", "DELETING"]

    /// AWS answers a destination that does not exist as a denial, not as a missing resource.
    static func denied(_ arn: String) -> RegistryError {
        RegistryError(.unauthorized, "Access to TopicRuleDestination '\(arn.prefix(256))' was denied")
    }

    /// The token's namespace prefix: `<account>.<region>.` (an unsigned confirmation finds its namespace by it).
    public static func tokenPrefix(accountID: String, region: String) -> String { "\(accountID).\(region)." }

    /// The account and region a confirmation token names, nil for a token of another form.
    public static func namespace(ofToken token: String) -> (accountID: String, region: String)? {
        let parts = token.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 12, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              (1...32).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            return nil
        }
        return (String(parts[0]), String(parts[1]))
    }
}

extension RegistryState {
    /// CreateTopicRuleDestination for a confirmation URL: IN_PROGRESS, with `token` to be sent to it.
    /// An explicit create of a URL that has a destination already is refused; `reuse` (the destination a
    /// new http action implies) returns the existing one instead.
    @discardableResult
    public mutating func createTopicRuleDestination(id: String, confirmationUrl: String, token: String, enableUrl: String, now: Double,
                                                    reuse: Bool = false) throws(RegistryError) -> TopicRuleDestinationRecord
    {
        if let existing = topicRuleDestinations.values.first(where: { $0.confirmationUrl == confirmationUrl }) {
            if reuse { return existing }
            throw RegistryError(.resourceAlreadyExists, "A topic rule destination for \(confirmationUrl.prefix(2000)) already exists.",
                                resourceID: existing.id, resourceARN: arns.topicRuleDestination(existing))
        }
        try checkDestinationQuota()
        var record = TopicRuleDestinationRecord(id: id, confirmationUrl: confirmationUrl, vpcProperties: nil, status: "IN_PROGRESS", createdAt: now)
        record.confirmationToken = token
        record.tokenIssuedAt = now
        record.enableUrl = enableUrl
        topicRuleDestinations[id] = record
        return record
    }

    /// A VPC destination: nothing to confirm on this machine, so it is ENABLED at once.
    public mutating func createVPCTopicRuleDestination(id: String, properties: String, now: Double) throws(RegistryError) -> TopicRuleDestinationRecord {
        try checkDestinationQuota()
        let record = TopicRuleDestinationRecord(id: id, confirmationUrl: nil, vpcProperties: properties, status: "ENABLED", createdAt: now)
        topicRuleDestinations[id] = record
        return record
    }

    private func checkDestinationQuota() throws(RegistryError) {
        guard topicRuleDestinations.count < TopicRuleDestinationRules.maximumDestinations else {
            throw RegistryError(.limitExceeded, "At most \(TopicRuleDestinationRules.maximumDestinations) topic rule destinations per account and region.")
        }
    }

    public func topicRuleDestination(arn: String) throws(RegistryError) -> TopicRuleDestinationRecord {
        guard let id = arns.topicRuleDestinationID(inARN: arn), let record = topicRuleDestinations[id], arns.topicRuleDestination(record) == arn else {
            throw TopicRuleDestinationRules.denied(arn)
        }
        return record
    }

    /// UpdateTopicRuleDestination. ENABLED only from DISABLED and DISABLED only from ENABLED (no
    /// confirmation needed again); IN_PROGRESS starts a new confirmation with `token` (from any state).
    public mutating func updateTopicRuleDestination(arn: String, status: String, token: String, enableUrl: String, now: Double) throws(RegistryError) {
        var record = try topicRuleDestination(arn: arn)
        guard TopicRuleDestinationRules.statuses.contains(status) else {
            throw RegistryError(.invalidRequest, "status must be one of ENABLED, IN_PROGRESS, DISABLED, ERROR or DELETING.")
        }
        switch (status, record.status) {
        case ("ENABLED", "DISABLED"), ("ENABLED", "ENABLED"), ("DISABLED", "ENABLED"), ("DISABLED", "DISABLED"):
            record.status = status
        case ("ENABLED", _), ("DISABLED", _):
            throw RegistryError(.invalidRequest, "Only a confirmed destination can be set to \(status); this one is \(record.status).")
        case ("IN_PROGRESS", _):
            guard record.confirmationUrl != nil else {
                throw RegistryError(.invalidRequest, "A VPC destination has no confirmation to send.")
            }
            record.status = "IN_PROGRESS"
            record.statusReason = nil
            record.confirmationToken = token
            record.tokenIssuedAt = now
            record.enableUrl = enableUrl
        default:
            throw RegistryError(.invalidRequest, "A destination cannot be set to \(status).")
        }
        record.lastUpdatedAt = now
        topicRuleDestinations[record.id] = record
    }

    /// ConfirmTopicRuleDestination or a GET of the enableUrl: the destination whose confirmation `token`
    /// is, confirmed with `status` (ENABLED or DISABLED). An unknown or spent token is refused; an expired
    /// one puts the destination in ERROR and answers nil (the caller refuses it once that is stored).
    @discardableResult
    public mutating func confirmTopicRuleDestination(token: String, status: String, now: Double) throws(RegistryError) -> TopicRuleDestinationRecord? {
        guard !token.isEmpty, var record = topicRuleDestinations.values.first(where: { $0.status == "IN_PROGRESS" && $0.confirmationToken == token }) else {
            throw RegistryError(.invalidRequest, "The confirmation token is not valid: it was never issued, was used already, or was replaced by a newer one.")
        }
        record.confirmationToken = nil
        record.enableUrl = nil
        record.lastUpdatedAt = now
        if now - (record.tokenIssuedAt ?? 0) > TopicRuleDestinationRules.tokenLifetime {
            record.status = "ERROR"
            record.statusReason = "The confirmation token expired before it was used."
            topicRuleDestinations[record.id] = record
            return nil
        }
        record.status = status
        record.statusReason = nil
        topicRuleDestinations[record.id] = record
        return record
    }

    public static let expiredTokenError = RegistryError(.invalidRequest,
                                                        "The confirmation token expired; set the destination to IN_PROGRESS to send a new one.")

    /// The confirmation message could not be delivered: ERROR, if that confirmation is still the one under way.
    public mutating func failTopicRuleDestinationConfirmation(id: String, token: String, reason: String, now: Double) {
        guard var record = topicRuleDestinations[id], record.status == "IN_PROGRESS", record.confirmationToken == token else { return }
        record.status = "ERROR"
        record.statusReason = String(reason.prefix(1024))
        record.confirmationToken = nil
        record.enableUrl = nil
        record.lastUpdatedAt = now
        topicRuleDestinations[id] = record
    }

    public mutating func deleteTopicRuleDestination(arn: String) throws(RegistryError) {
        let record = try topicRuleDestination(arn: arn)
        topicRuleDestinations[record.id] = nil
    }

    public func listTopicRuleDestinations(nextToken: String?, maxResults: Int?) throws(RegistryError)
        -> (destinations: [TopicRuleDestinationRecord], nextToken: String?)
    {
        let all = topicRuleDestinations.values.sorted { $0.id < $1.id }
        let page = try Self.page(all, key: \.id, marker: nextToken, pageSize: maxResults, maximum: 1000, what: "maxResults", token: "nextToken")
        return (page.items, page.nextMarker)
    }

    /// Every destination, for the gateway's rules engine.
    public var allTopicRuleDestinations: [TopicRuleDestinationRecord] { topicRuleDestinations.values.sorted { $0.id < $1.id } }
}

extension TopicRuleDestinationRecord {
    /// The longest confirmation URL of an ENABLED HTTP destination that `url` begins with (AWS's rule),
    /// provided the two name the same scheme, host and port, `url` has no user info and no `.` or `..`
    /// path segments (raw or percent-encoded): a value a template put into the URL cannot lead the request
    /// to another host (`https://api.example.com${x}` with x = `.evil.net` or `@evil.net`) or out of the
    /// confirmed path.
    public static func enabled(for url: String, in destinations: [TopicRuleDestinationRecord]) -> TopicRuleDestinationRecord? {
        guard let target = URLParts(url) else { return nil }
        return destinations.filter { record in
            guard record.status == "ENABLED", let prefix = record.confirmationUrl, url.hasPrefix(prefix),
                  let confirmed = URLParts(prefix) else { return false }
            return confirmed.scheme == target.scheme && confirmed.host == target.host && confirmed.port == target.port
        }.max { ($0.confirmationUrl?.count ?? 0) < ($1.confirmationUrl?.count ?? 0) }
    }
}

/// The parts of an http(s) URL that decide where a request goes; nil for a URL that is not a plain one.
struct URLParts: Equatable {
    let scheme: String
    let host: String
    let port: Int

    init?(_ text: String) {
        guard !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0 == "\\" || $0.value == 0x7F }),
              let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = components.host?.lowercased(), !host.isEmpty, components.user == nil, components.password == nil else {
            return nil
        }
        let segments = components.percentEncodedPath.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { segment in
            let decoded = segment.removingPercentEncoding?.lowercased() ?? String(segment)
            return decoded == "." || decoded == ".." || decoded.contains("/") || decoded.contains("\\")
        }) else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }
}
