import Foundation
import IoTSQL
@testable import Rules
import Testing

@Suite("Rules: which rules a message triggers, and what their actions do")
struct RuleSetTests {
    func rule(_ name: String, _ sql: String, actions: [Any] = [], disabled: Bool = false) throws -> CompiledTopicRule {
        try TopicRuleCompiler.compile(name: name, sql: sql, version: "2016-03-23", actions: actions, errorAction: nil, disabled: disabled)
    }

    @Test func fromFiltersAndBasicIngestPickRules() throws {
        let set = RuleSet([try rule("exact", "SELECT * FROM 'a/b'"), try rule("plus", "SELECT * FROM 'a/+'"), try rule("hash", "SELECT * FROM 'a/#'"),
                           try rule("off", "SELECT * FROM 'a/b'", disabled: true), try rule("ingest_only", "SELECT *"),
                           try rule("events", "SELECT * FROM '$aws/events/presence/+/+'")])
        #expect(set.matching(topic: "a/b").map(\.rule.name) == ["exact", "plus", "hash"])
        #expect(set.matching(topic: "a/b/c").map(\.rule.name) == ["hash"])
        #expect(set.matching(topic: "b").isEmpty)
        #expect(set.wants(topic: "a/b") && set.wants(topic: "a/b/c") && !set.wants(topic: "b") && !RuleSet([]).wants(topic: "a/b"))
        #expect(set.matching(topic: "$aws/events/presence/connected/dev").map(\.rule.name) == ["events"])
        // Basic Ingest names the rule; its SQL sees the topic without the prefix; FROM is not consulted.
        let ingest = set.matching(topic: "$aws/rules/ingest_only/Buildings/Building5")
        #expect(ingest.map(\.rule.name) == ["ingest_only"] && ingest.first?.topic == "Buildings/Building5")
        #expect(set.matching(topic: "$aws/rules/exact/x/y").map(\.topic) == ["x/y"])
        #expect(set.matching(topic: "$aws/rules/off/x").isEmpty, "a disabled rule takes nothing")
        #expect(set.matching(topic: "$aws/rules/nosuch/x").isEmpty)
        let bare = RuleSet.basicIngest("$aws/rules/r")
        #expect(bare?.ruleName == "r" && bare?.topic == "")
        #expect(RuleSet.basicIngest("$aws/rulesx/r/a") == nil)
    }

    @Test func actionsRenderTheirTemplatesFromTheMessage() throws {
        let compiled = try rule("r", "SELECT temperature AS t, clientid() AS who FROM 'sensors/+/data' WHERE temperature > 50", actions: [
            ["republish": ["roleArn": "arn", "topic": "$$aws/things/${topic(2)}/shadow/update", "qos": 1,
                           "headers": ["contentType": "application/json", "payloadFormatIndicator": "UTF8_DATA",
                                       "userProperties": [["key": "source", "value": "${clientid()}"]]]]],
            ["http": ["url": "https://example.com/in/${topic(2)}", "confirmationUrl": "https://example.com/"]],
            ["cloudwatchLogs": ["roleArn": "arn", "logGroupName": "sensors"]],
            ["dynamoDB": ["roleArn": "arn", "tableName": "readings", "hashKeyField": "device", "hashKeyValue": "${topic(2)}",
                          "rangeKeyField": "at", "rangeKeyValue": "${timestamp()}", "rangeKeyType": "NUMBER"]],
            ["s3": ["roleArn": "arn", "bucketName": "archive", "key": "${topic()}/${timestamp()}.json"]],
            ["sqs": ["roleArn": "arn", "queueUrl": "https://sqs"]],
        ])
        let message = SQLMessage(topic: "sensors/kitchen/data", payload: Array(#"{"temperature": 60}"#.utf8), clientID: "dev-1",
                                 timestamp: 1_700_000_000_000, accountID: "123456789012")
        #expect(compiled.statement.evaluate(SQLMessage(topic: "sensors/kitchen/data", payload: Array(#"{"temperature": 40}"#.utf8),
                                                       timestamp: 1, accountID: "1")) == nil)
        let outcome = try #require(compiled.statement.evaluate(message))
        let requests = compiled.actions.map { $0.request(outcome, message: message) }
        guard case .success(.republish(let republish)) = requests[0] else { Issue.record("republish: \(requests[0])"); return }
        #expect(republish.topic == "$aws/things/kitchen/shadow/update", "$$ writes a reserved topic's $")
        #expect(String(decoding: republish.payload, as: UTF8.self) == #"{"t":60,"who":"dev-1"}"#)
        #expect(republish.qos == 1 && republish.payloadFormatUTF8 == true && republish.contentType == "application/json")
        #expect(republish.userProperties.map { "\($0.name)=\($0.value)" } == ["source=dev-1"])
        guard case .success(.http(let post)) = requests[1] else { Issue.record("http"); return }
        #expect(post.url == "https://example.com/in/kitchen" && post.headers.contains { $0.name == "content-type" && $0.value == "application/json" })
        guard case .success(.log(let group, let events)) = requests[2] else { Issue.record("log"); return }
        #expect(group == "sensors" && events.map(\.message) == [#"{"t":60,"who":"dev-1"}"#])
        guard case .success(.dynamoDB(let table, let operation, let item)) = requests[3] else { Issue.record("dynamoDB"); return }
        #expect(table == "readings" && operation == "INSERT")
        #expect(item.map(\.name) == ["device", "at", "payload"] && item[1].value == .int(1_700_000_000_000))
        guard case .success(.s3(let bucket, let key, _)) = requests[4] else { Issue.record("s3"); return }
        #expect(bucket == "archive" && key == "sensors/kitchen/data/1700000000000.json")
        guard case .failure(let failure) = requests[5] else { Issue.record("sqs ran"); return }
        #expect(failure.failedAction == "SqsAction" && failure.errorMessage.contains("no local target"))
    }

    @Test func aReservedTopicNeedsDollarDollarInTheTemplateItself() throws {
        let compiled = try rule("r", "SELECT * FROM 'in'", actions: [["republish": ["roleArn": "arn", "topic": "${dest}"]],
                                                                      ["republish": ["roleArn": "arn", "topic": "out/${dest}"]]])
        let message = SQLMessage(topic: "in", payload: Array(#"{"dest": "$aws/things/x/shadow/update"}"#.utf8), timestamp: 1, accountID: "1")
        let outcome = try #require(compiled.statement.evaluate(message))
        guard case .failure(let reserved) = compiled.actions[0].request(outcome, message: message) else { Issue.record("a device named a reserved topic"); return }
        #expect(reserved.errorMessage.contains("reserved"))
        guard case .success(.republish(let plain)) = compiled.actions[1].request(outcome, message: message) else { Issue.record("plain"); return }
        #expect(plain.topic == "out/$aws/things/x/shadow/update")
        let wild = SQLMessage(topic: "in", payload: Array(#"{"dest": "a/#"}"#.utf8), timestamp: 1, accountID: "1")
        guard case .failure = compiled.actions[1].request(try #require(compiled.statement.evaluate(wild)), message: wild) else {
            Issue.record("a wildcard topic"); return
        }
    }

    @Test func theErrorActionPayloadIsAWSs() throws {
        let payload = CompiledTopicRule.errorPayload(ruleName: "TestAction", topic: "testme/action", clientID: "c", traceID: "t",
                                                     originalPayload: Array("hi".utf8),
                                                     failures: [ActionFailure(action: "s3", resource: "bucket", message: "no bucket")])
        #expect(String(decoding: payload, as: UTF8.self) ==
            #"{"ruleName":"TestAction","topic":"testme/action","cloudwatchTraceId":"t","clientId":"c","base64OriginalPayload":"aGk=","failures":[{"failedAction":"S3Action","failedResource":"bucket","errorMessage":"no bucket"}]}"#)
    }
}
