import Foundation
import HTTPTypes
import Hummingbird
import Registry
import Rules

/// Topic rules with botocore's URIs and shapes: CreateTopicRule (`POST /rules/{ruleName}`, the body is
/// the TopicRulePayload itself, tags in `x-amz-tagging`), GetTopicRule, ListTopicRules, ReplaceTopicRule
/// (`PATCH`), Enable/DisableTopicRule and DeleteTopicRule. The SQL and actions are checked and compiled
/// before anything is stored: a syntax error is SqlParseException with its line and column, anything else
/// InvalidRequestException. A rule that does not exist is AWS's UnauthorizedException.
extension ControlPlane {
    static let taggingHeader = HTTPField.Name("x-amz-tagging")!

    static func addTopicRuleRoutes(to router: Router<ControlPlaneContext>, registry: Registry, configuration: Configuration) {
        router.post("/rules/:ruleName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            let (record, compiled) = try await topicRule(name: name, body: try await jsonBody(request, context))
            let destinations = try impliedDestinations(compiled, request: request, configuration: configuration)
            let tags = try taggingHeaderTags(request.headers[taggingHeader])
            try await registry.perform { state throws(RegistryError) in
                try state.createTopicRule(record)
                if let tags { try state.tagResource(arn: state.arns.topicRule(name), tags: tags) }
                try destinations.create(in: &state)
            }
            return try json([:])
        }
        router.patch("/rules/:ruleName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            let (record, compiled) = try await topicRule(name: name, body: try await jsonBody(request, context))
            let destinations = try impliedDestinations(compiled, request: request, configuration: configuration)
            try await registry.perform { state throws(RegistryError) in
                try state.replaceTopicRule(record)
                try destinations.create(in: &state)
            }
            return try json([:])
        }
        router.get("/rules/:ruleName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            let record = try await registry.read { state throws(RegistryError) in try state.topicRule(named: name) }
            let arns = await registry.arns
            return try json(["ruleArn": arns.topicRule(name), "rule": describe(record)])
        }
        router.get("/rules") { request, context in
            try requireControlPlane(context)
            let topic = request.uri.queryParameters["topic"].map(String.init)
            let disabled = try boolParameter(request, "ruleDisabled")
            let token = request.uri.queryParameters["nextToken"].map(String.init)
            let maxResults = try intParameter(request, "maxResults")
            let (rules, next) = try await registry.read { state throws(RegistryError) in
                try state.listTopicRules(topic: topic, ruleDisabled: disabled, nextToken: token, maxResults: maxResults)
            }
            let arns = await registry.arns
            var out: [String: Any] = ["rules": rules.map { rule -> [String: Any] in
                var item: [String: Any] = ["ruleArn": arns.topicRule(rule.name), "ruleName": rule.name, "createdAt": rule.createdAt,
                                           "ruleDisabled": rule.ruleDisabled]
                if let pattern = rule.topicPattern { item["topicPattern"] = pattern }
                return item
            }]
            if let next { out["nextToken"] = next }
            return try json(out)
        }
        for (suffix, disabled) in [("enable", false), ("disable", true)] {
            router.post("/rules/:ruleName/\(suffix)") { _, context in
                try requireControlPlane(context)
                let name = try pathParameter(context, "ruleName")
                try await registry.perform { state throws(RegistryError) in try state.setTopicRuleDisabled(name: name, disabled: disabled) }
                return try json([:])
            }
        }
        router.delete("/rules/:ruleName") { _, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            try await registry.perform { state throws(RegistryError) in try state.deleteTopicRule(name: name) }
            return try json([:])
        }
    }

    /// A TopicRulePayload checked and compiled (so a rule that is stored always runs), as the record kept.
    static func topicRule(name: String, body: [String: Any]) async throws -> (TopicRuleRecord, CompiledTopicRule) {
        try TopicRuleRules.checkName(name)
        // The CLI's --cli-input-json shape wraps the payload; accept both.
        let payload = (body["topicRulePayload"] as? [String: Any]) ?? body
        let sql = try requiredString(payload, "sql")
        let version = try optionalString(payload, "awsIotSqlVersion")
        guard payload["actions"] != nil else { throw AWSErrorResponse.invalidRequest("actions is required.") }
        let disabled = (payload["ruleDisabled"] as? Bool) ?? false
        let compiled: CompiledTopicRule
        do {
            compiled = try TopicRuleCompiler.compile(name: name, sql: sql, version: version, actions: payload["actions"],
                                                     errorAction: payload["errorAction"], disabled: disabled)
        } catch {
            throw AWSErrorResponse(status: 400, type: error.awsErrorType, message: error.message)
        }
        func text(_ value: Any?) throws -> String? {
            guard let value, !(value is NSNull) else { return nil }
            return String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        }
        let record = TopicRuleRecord(name: name, sql: sql, description: try optionalString(payload, "description"),
                                     awsIotSqlVersion: version ?? compiled.statement.version.rawValue,
                                     ruleDisabled: disabled, topicPattern: compiled.statement.topicFilter, actions: try text(payload["actions"]) ?? "[]",
                                     errorAction: try text(payload["errorAction"]), createdAt: Date().timeIntervalSince1970)
        return (record, compiled)
    }

    /// The destinations a rule's http actions imply (AWS: "a new TopicRuleDestination is created if
    /// possible"): one per constant confirmation URL that has none yet, IN_PROGRESS. A url with
    /// templates needs its destinations made by hand when its confirmationUrl has templates too.
    struct ImpliedDestinations {
        var urls: [(url: String, id: String, token: String, enableUrl: String)] = []

        func create(in state: inout RegistryState) throws(RegistryError) {
            let now = Date().timeIntervalSince1970
            for url in urls {
                try state.createTopicRuleDestination(id: url.id, confirmationUrl: url.url, token: url.token, enableUrl: url.enableUrl, now: now, reuse: true)
            }
        }
    }

    static func impliedDestinations(_ rule: CompiledTopicRule, request: Request, configuration: Configuration) throws -> ImpliedDestinations {
        var implied = ImpliedDestinations()
        for action in rule.actions + (rule.errorAction.map { [$0] } ?? []) {
            guard case .http(let http) = action else { continue }
            // The scheme is checked on the url's constant start (a template may follow it).
            try checkDestinationURL(http.url.text, field: "url", configuration: configuration, templated: !http.url.isConstant)
            guard let confirmation = http.confirmationUrl, !confirmation.contains("${"),
                  !implied.urls.contains(where: { $0.url == confirmation }) else { continue }
            try checkDestinationURL(confirmation, field: "confirmationUrl", configuration: configuration)
            let token = newConfirmationToken(configuration)
            implied.urls.append((confirmation, UUID().uuidString.lowercased(), token, enableURL(request, token: token, configuration: configuration)))
        }
        return implied
    }

    /// GetTopicRule's TopicRule.
    static func describe(_ rule: TopicRuleRecord) -> [String: Any] {
        func parsed(_ text: String?) -> Any? { text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } }
        var out: [String: Any] = ["ruleName": rule.name, "sql": rule.sql, "createdAt": rule.createdAt, "ruleDisabled": rule.ruleDisabled,
                                  "awsIotSqlVersion": rule.awsIotSqlVersion, "actions": parsed(rule.actions) ?? []]
        if let description = rule.description { out["description"] = description }
        if let errorAction = parsed(rule.errorAction) { out["errorAction"] = errorAction }
        return out
    }

    /// `x-amz-tagging: key1=value1&key2=value2`, form-encoded.
    static func taggingHeaderTags(_ header: String?) throws -> [String: String]? {
        guard let header, !header.isEmpty else { return nil }
        var tags: [String: String] = [:]
        for pair in header.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text) }
            guard let key = parts.first.map(decoded), !key.isEmpty else { throw AWSErrorResponse.invalidRequest("x-amz-tagging has a tag without a key.") }
            tags[key] = parts.count > 1 ? decoded(parts[1]) : ""
        }
        return tags
    }
}
