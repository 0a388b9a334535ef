import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Registry
import Rules

/// Topic rule destinations with botocore's URIs and shapes: Create (`POST /destinations`), Get and Delete
/// (`/destinations/{arn+}`), List (`GET /destinations`), Update (`PATCH /destinations`) and Confirm
/// (`GET /confirmdestination/{confirmationToken+}`). An HTTP destination starts IN_PROGRESS; the gateway
/// posts a confirmation token to its URL, and the endpoint's owner confirms it by browsing to the
/// enableUrl (unsigned: ENABLED) or by calling ConfirmTopicRuleDestination (signed: DISABLED until
/// enabled, as AWS's guide says). A destination that does not exist is AWS's UnauthorizedException.
extension ControlPlane {
    public static let confirmDestinationPrefix = "/confirmdestination/"

    static func addTopicRuleDestinationRoutes(to router: Router<ControlPlaneContext>, registry: Registry, configuration: Configuration) {
        router.post("/destinations") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            guard let destination = body["destinationConfiguration"] as? [String: Any] else {
                throw AWSErrorResponse.invalidRequest("destinationConfiguration is required.")
            }
            let now = Date().timeIntervalSince1970
            let id = UUID().uuidString.lowercased()
            let record: TopicRuleDestinationRecord
            if let http = destination["httpUrlConfiguration"] as? [String: Any] {
                let url = try requiredString(http, "confirmationUrl")
                try checkDestinationURL(url, field: "confirmationUrl", configuration: configuration)
                let token = newConfirmationToken(configuration)
                let enableUrl = enableURL(request, token: token, configuration: configuration)
                record = try await registry.perform { state throws(RegistryError) in
                    try state.createTopicRuleDestination(id: id, confirmationUrl: url, token: token, enableUrl: enableUrl, now: now)
                }
            } else if let vpc = destination["vpcConfiguration"] as? [String: Any] {
                let properties = try vpcProperties(vpc)
                record = try await registry.perform { state throws(RegistryError) in
                    try state.createVPCTopicRuleDestination(id: id, properties: properties, now: now)
                }
            } else {
                throw AWSErrorResponse.invalidRequest("destinationConfiguration needs httpUrlConfiguration or vpcConfiguration.")
            }
            let arns = await registry.arns
            return try json(["topicRuleDestination": describe(record, arns: arns, summary: false)])
        }
        router.get("/destinations") { request, context in
            try requireControlPlane(context)
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let (destinations, next) = try await registry.read { state throws(RegistryError) in
                try state.listTopicRuleDestinations(nextToken: token, maxResults: maxResults)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["destinationSummaries": destinations.map { describe($0, arns: arns, summary: true) }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        router.get("/destinations/**") { _, context in
            try requireControlPlane(context)
            let arn = try greedyParameter(context, "arn")
            let record = try await registry.read { state throws(RegistryError) in try state.topicRuleDestination(arn: arn) }
            let arns = await registry.arns
            return try json(["topicRuleDestination": describe(record, arns: arns, summary: false)])
        }
        router.patch("/destinations") { request, context in
            try requireControlPlane(context)
            let body = try await jsonBody(request, context)
            let arn = try requiredString(body, "arn")
            let status = try requiredString(body, "status")
            let token = newConfirmationToken(configuration)
            let enableUrl = enableURL(request, token: token, configuration: configuration)
            let now = Date().timeIntervalSince1970
            try await registry.perform { state throws(RegistryError) in
                try state.updateTopicRuleDestination(arn: arn, status: status, token: token, enableUrl: enableUrl, now: now)
            }
            return try json([:])
        }
        router.delete("/destinations/**") { _, context in
            try requireControlPlane(context)
            let arn = try greedyParameter(context, "arn")
            try await registry.perform { state throws(RegistryError) in try state.deleteTopicRuleDestination(arn: arn) }
            return try json([:])
        }
        // Reached signed (ConfirmTopicRuleDestination) or unsigned (the enableUrl in a browser): the
        // middleware lets only this route through without a signature, and the token is the credential.
        router.get("/confirmdestination/**") { _, context in
            let signed = context.identity != nil
            if signed { try requireControlPlane(context) }
            let token = try greedyParameter(context, "confirmationToken")
            guard (1...2048).contains(token.utf8.count) else {
                throw AWSErrorResponse.invalidRequest("confirmationToken must be 1 to 2048 characters.")
            }
            let now = Date().timeIntervalSince1970
            let confirmed = try await registry.perform { state throws(RegistryError) in
                try state.confirmTopicRuleDestination(token: token, status: signed ? "DISABLED" : "ENABLED", now: now)
            }
            // An expired token was refused after the destination's ERROR was stored.
            guard let record = confirmed else { throw RegistryState.expiredTokenError }
            context.logger.info("topic rule destination confirmed", metadata: ["id": "\(record.id)", "status": "\(record.status)"])
            return try json([:])
        }
    }

    /// The rest of a greedy label (`{arn+}`), percent-decoded once.
    static func greedyParameter(_ context: ControlPlaneContext, _ name: String) throws -> String {
        let raw = context.parameters.getCatchAll().joined(separator: "/")
        guard !raw.isEmpty, let value = raw.removingPercentEncoding else {
            throw AWSErrorResponse.invalidRequest("\(name) is missing or not percent-encoded correctly.")
        }
        return value
    }

    /// An absolute `https://` URL with a host, at most 2000 characters (`http://` only when allowed).
    /// - Parameter templated: the URL may hold `${...}` templates: only its scheme is checked.
    static func checkDestinationURL(_ text: String, field: String, configuration: Configuration, templated: Bool = false) throws {
        let scheme: String
        if templated {
            scheme = text.lowercased().hasPrefix("https://") ? "https" : text.lowercased().hasPrefix("http://") ? "http" : ""
        } else {
            guard text.utf8.count <= 2000, let url = URL(string: text), let found = url.scheme?.lowercased(),
                  let host = url.host, !host.isEmpty, url.user == nil, url.password == nil else {
                throw AWSErrorResponse.invalidRequest("\(field) must be an absolute URL with a host, of at most 2000 characters.")
            }
            scheme = found
        }
        guard scheme == "https" || (scheme == "http" && configuration.allowInsecureRuleURLs) else {
            throw AWSErrorResponse.invalidRequest(scheme == "http"
                ? "\(field) must be an https URL (plain http needs rules.allowInsecureURLs in the gateway's configuration)."
                : "\(field) must be an https URL.")
        }
    }

    /// A confirmation token: the namespace it belongs to, then 32 random bytes (base64url).
    static func newConfirmationToken(_ configuration: Configuration) -> String {
        let random = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return TopicRuleDestinationRules.tokenPrefix(accountID: configuration.accountID, region: configuration.region) + random
    }

    /// Where the confirmation tells the endpoint's owner to browse: the address the caller reached this API by.
    static func enableURL(_ request: Request, token: String, configuration: Configuration) -> String {
        let authority = request.head.authority.flatMap { $0.isEmpty ? nil : $0 } ?? "\(configuration.host):\(configuration.port)"
        return "https://\(authority)\(confirmDestinationPrefix)\(token)"
    }

    /// VpcDestinationConfiguration: subnetIds, vpcId and roleArn required, securityGroups optional.
    static func vpcProperties(_ vpc: [String: Any]) throws -> String {
        guard let subnets = vpc["subnetIds"] as? [String], !subnets.isEmpty, subnets.count <= 100 else {
            throw AWSErrorResponse.invalidRequest("vpcConfiguration.subnetIds must list 1 to 100 subnets.")
        }
        let vpcID = try requiredString(vpc, "vpcId")
        let role = try requiredString(vpc, "roleArn")
        var properties: [String: Any] = ["subnetIds": subnets, "vpcId": vpcID, "roleArn": role]
        if let groups = vpc["securityGroups"] as? [String] { properties["securityGroups"] = groups }
        let data = try JSONSerialization.data(withJSONObject: properties, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// TopicRuleDestination (Get, Create) or TopicRuleDestinationSummary (List).
    static func describe(_ record: TopicRuleDestinationRecord, arns: ARNs, summary: Bool) -> [String: Any] {
        var out: [String: Any] = ["arn": arns.topicRuleDestination(record), "status": record.status,
                                  "createdAt": record.createdAt, "lastUpdatedAt": record.lastUpdatedAt]
        if let reason = record.statusReason { out["statusReason"] = reason }
        if let url = record.confirmationUrl { out[summary ? "httpUrlSummary" : "httpUrlProperties"] = ["confirmationUrl": url] }
        if let properties = record.vpcProperties.flatMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) }) {
            out[summary ? "vpcDestinationSummary" : "vpcProperties"] = properties
        }
        return out
    }
}
