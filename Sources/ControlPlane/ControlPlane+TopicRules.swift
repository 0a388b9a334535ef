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

    static func addTopicRuleRoutes(to router: Router<ControlPlaneContext>, registry: Registry) {
        router.post("/rules/:ruleName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            let record = try await topicRule(name: name, body: try await jsonBody(request, context))
            let tags = try taggingHeaderTags(request.headers[taggingHeader])
            try await registry.perform { state throws(RegistryError) in
                try state.createTopicRule(record)
                if let tags { try state.tagResource(arn: state.arns.topicRule(name), tags: tags) }
            }
            return try json([:])
        }
        router.patch("/rules/:ruleName") { request, context in
            try requireControlPlane(context)
            let name = try pathParameter(context, "ruleName")
            let record = try await topicRule(name: name, body: try await jsonBody(request, context))
            try await registry.perform { state throws(RegistryError) in try state.replaceTopicRule(record) }
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
    static func topicRule(name: String, body: [String: Any]) async throws -> TopicRuleRecord {
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
        return TopicRuleRecord(name: name, sql: sql, description: try optionalString(payload, "description"),
                               awsIotSqlVersion: version ?? compiled.statement.version.rawValue,
                               ruleDisabled: disabled, topicPattern: compiled.statement.topicFilter, actions: try text(payload["actions"]) ?? "[]",
                               errorAction: try text(payload["errorAction"]), createdAt: Date().timeIntervalSince1970)
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
