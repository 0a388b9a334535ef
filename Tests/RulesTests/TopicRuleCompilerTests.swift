import Foundation
import IoTSQL
@testable import Rules
import Testing

@Suite("Rules: checking and compiling a TopicRulePayload")
struct TopicRuleCompilerTests {
    func compile(_ actions: Any, errorAction: Any? = nil, sql: String = "SELECT * FROM 'a/#'", version: String? = nil) throws(TopicRuleError) -> CompiledTopicRule {
        try TopicRuleCompiler.compile(name: "r", sql: sql, version: version, actions: actions, errorAction: errorAction, disabled: false)
    }

    func refusal(_ body: () throws -> Void) -> TopicRuleError? {
        do { try body() } catch { return error as? TopicRuleError }
        return nil
    }

    @Test func localActionsCompileWithTheirTemplates() throws {
        let rule = try compile([
            ["republish": ["roleArn": "arn:aws:iam::1:role/r", "topic": "${topic()}/again", "qos": 1,
                           "headers": ["contentType": "application/json", "userProperties": [["key": "k", "value": "${clientid()}"]]]]],
            ["http": ["url": "https://example.com/in/${topic(2)}", "confirmationUrl": "https://example.com/", "headers": [["key": "x-a", "value": "1"]]]],
            ["cloudwatchLogs": ["roleArn": "arn", "logGroupName": "group-${topic(1)}"]],
            ["dynamoDB": ["roleArn": "arn", "tableName": "t", "hashKeyField": "id", "hashKeyValue": "${clientid()}"]],
            ["dynamoDBv2": ["roleArn": "arn", "putItem": ["tableName": "t2"]]],
            ["s3": ["roleArn": "arn", "bucketName": "b", "key": "${topic()}/${timestamp()}"]],
            ["lambda": ["functionArn": "arn:aws:lambda:us-east-1:1:function:f"]],
        ], errorAction: ["republish": ["roleArn": "arn", "topic": "errors"]])
        #expect(rule.actions.map(\.type) == ["republish", "http", "cloudwatchLogs", "dynamoDB", "dynamoDBv2", "s3", "lambda"])
        guard case .republish(let republish) = rule.actions[0], case .http(let http) = rule.actions[1] else { Issue.record("kinds"); return }
        #expect(republish.qos == 1 && !republish.topic.isConstant && republish.userProperties.count == 1)
        #expect(http.confirmationUrl == "https://example.com/")
        #expect(rule.errorAction?.type == "republish")
        #expect(rule.statement.version == .v2015, "AWS's API default")
    }

    @Test func badPayloadsAreRefusedWithTheParameterNamed() {
        let cases: [(Any, String)] = [
            ([["republish": ["roleArn": "arn"]]], "actions[0].republish.topic is required"),
            ([["republish": ["roleArn": "arn", "topic": "t", "qos": 2]]], "qos must be 0 or 1"),
            ([["republish": ["roleArn": "arn", "topic": "${topic("]]], "actions[0].republish.topic"),
            ([["teleport": [:]]], "teleport is not an action type"),
            ([["republish": ["roleArn": "arn", "topic": "t"], "s3": ["roleArn": "arn", "bucketName": "b", "key": "k"]]], "exactly one action type"),
            ([["http": ["url": "ftp://example.com"]]], "http(s) URL"),
            ([["http": ["url": "https://example.com/${topic()}"]]], "confirmationUrl is required"),
            ([["http": ["url": "https://a.example.com/x", "confirmationUrl": "https://b.example.com/"]]], "must begin with its confirmationUrl"),
            ([["dynamoDB": ["roleArn": "arn", "tableName": "t", "hashKeyField": "id", "hashKeyValue": "v", "hashKeyType": "BLOB"]]], "STRING or NUMBER"),
            ([["sns": ["roleArn": "arn"]]], "actions[0].sns.targetArn is required"),
            (Array(repeating: ["lambda": ["functionArn": "f"]], count: 11), "at most 10 actions"),
            ("not a list", "actions must be a list"),
            ([["http": ["url": "https://e.example/", "enableBatching": true, "batchConfig": ["maxBatchSize": 11]]]], "maxBatchSize must be an integer from 2 to 10"),
            ([["http": ["url": "https://e.example/", "headers": [["key": "x-a\r\nx-b", "value": "1"]]]]], "headers[0].key must be 1 to 256 characters of an HTTP header name"),
            ([["http": ["url": "https://e.example/", "enableBatching": true, "batchConfig": ["maxBatchOpenMs": 1]]]], "maxBatchOpenMs must be an integer from 5 to 200"),
            ([["http": ["url": "https://e.example/", "enableBatching": true, "batchConfig": ["maxBatchSizeBytes": "big"]]]], "maxBatchSizeBytes must be an integer"),
        ]
        for (actions, message) in cases {
            let error = refusal { _ = try compile(actions) }
            #expect(error?.kind == .invalidRequest, "\(message)")
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "accepted"): wanted \(message)")
        }
    }

    @Test func httpBatchingTakesAWSDefaultsAndNeverAppliesToTheErrorAction() throws {
        let rule = try compile([["http": ["url": "https://e.example/a", "enableBatching": true, "batchConfig": ["maxBatchSize": 3, "batchAcrossTopics": true]]],
                                ["http": ["url": "https://e.example/b"]]])
        guard case .http(let batched) = rule.actions[0], case .http(let single) = rule.actions[1] else { Issue.record("kinds"); return }
        #expect(batched.batch?.maxBatchSize == 3 && batched.batch?.maxBatchOpenMs == 20 && batched.batch?.maxBatchSizeBytes == 5120)
        #expect(batched.batch?.batchAcrossTopics == true)
        #expect(single.batch == nil)
        let error = refusal { _ = try compile([], errorAction: ["http": ["url": "https://e.example/", "enableBatching": true]]) }
        #expect(error?.message.contains("cannot enable batching") == true, "\(error?.message ?? "accepted")")
    }

    @Test func aRuleCallsGetRegistryDataAtMostOnceAndNeverInItsErrorAction() {
        let twice = refusal { _ = try compile([["republish": ["roleArn": "arn", "topic": "t/${get_registry_data('DescribeThing', topic(2), 'arn').thingName}"]]],
                                              sql: "SELECT get_registry_data('ListThingGroupsForThing', topic(2), 'arn') AS g FROM 'a/#'", version: "2016-03-23") }
        #expect(twice?.message == "Rule cannot contain more than 1 get_registry_data function calls")
        let inError = refusal { _ = try compile([], errorAction: ["republish": ["roleArn": "arn", "topic": "e/${get_registry_data('DescribeThing', 'x', 'arn').version}"]],
                                                version: "2016-03-23") }
        #expect(inError?.message.contains("cannot call get_registry_data") == true, "\(inError?.message ?? "accepted")")
    }

    @Test func errorActionsCallNoExternalFunction() {
        let shadowInError: [String: Any] = ["republish": ["roleArn": "arn", "topic": "errors/${get_thing_shadow(topic(2), 'arn')}"]]
        let error = refusal { _ = try compile([], errorAction: shadowInError, version: "2016-03-23") }
        #expect(error?.message.contains("get_thing_shadow") == true, "\(error?.message ?? "accepted")")
        let shadowInAction: [String: Any] = ["republish": ["roleArn": "arn", "topic": "out/${get_thing_shadow(topic(2), 'arn').version}"]]
        #expect(refusal { _ = try compile([shadowInAction], errorAction: ["republish": ["roleArn": "arn", "topic": "errors/${topic()}"]],
                                          version: "2016-03-23") } == nil)
    }

    @Test func sqlErrorsAreSqlParseExceptionsWithAPosition() {
        let syntax = refusal { _ = try compile([], sql: "SELECT * FROM 'a' WHERE (") }
        #expect(syntax?.awsErrorType == "SqlParseException")
        #expect(syntax?.message.hasPrefix("Line 1:26") == true, "\(syntax?.message ?? "")")
        let unknown = refusal { _ = try compile([], sql: "SELECT frobnicate(1) FROM 'a'") }
        #expect(unknown?.awsErrorType == "InvalidRequestException")
        #expect(refusal { _ = try compile([], version: "2099-01-01") }?.message.contains("awsIotSqlVersion") == true)
        #expect(refusal { _ = try compile([], sql: "SELECT encode(*, 'base64') FROM 'a'", version: "beta") } == nil, "beta is served as 2016-03-23")
    }
}
