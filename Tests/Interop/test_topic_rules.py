"""Topic rules through boto3 and awscli (issue 18, first part): CreateTopicRule, GetTopicRule, ListTopicRules
(paging, topic and ruleDisabled filters), ReplaceTopicRule, Enable/DisableTopicRule, DeleteTopicRule, tags; SQL
checked when the rule is made (SqlParseException with a position, InvalidRequestException for unknown functions
and bad actions); AWS's UnauthorizedException for a rule that does not exist; each region its own rules."""

from __future__ import annotations

import json

import pytest

from interop_support import Server, aws_error, aws_error_message, awscli, iot_client, unique

REPUBLISH = {"republish": {"roleArn": "arn:aws:iam::123456789012:role/rules", "topic": "${topic()}/copy", "qos": 1}}


@pytest.fixture(scope="module")
def gw(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("rules")).start()
    yield srv
    srv.stop()


def rule_name() -> str:
    return unique("rule").replace("-", "_")


def test_rule_lifecycle(gw):
    iot = iot_client(gw, region="eu-central-1")
    name = rule_name()
    payload = {"sql": "SELECT temperature AS t FROM 'sensors/+/data' WHERE temperature > 50", "description": "hot",
               "actions": [REPUBLISH, {"lambda": {"functionArn": "arn:aws:lambda:eu-central-1:123456789012:function:f"}}],
               "errorAction": {"republish": {"roleArn": "arn:aws:iam::123456789012:role/rules", "topic": "rule/errors"}},
               "awsIotSqlVersion": "2016-03-23"}
    iot.create_topic_rule(ruleName=name, topicRulePayload=payload, tags="team=ops&site=north%20hall")
    got = iot.get_topic_rule(ruleName=name)
    assert got["ruleArn"] == f"arn:aws:iot:eu-central-1:123456789012:rule/{name}"
    rule = got["rule"]
    assert (rule["ruleName"], rule["sql"], rule["description"], rule["ruleDisabled"], rule["awsIotSqlVersion"]) == \
        (name, payload["sql"], "hot", False, "2016-03-23")
    assert rule["actions"] == payload["actions"], "actions come back as given, the lambda one included"
    assert rule["errorAction"] == payload["errorAction"]
    assert rule["createdAt"]
    tags = {t["Key"]: t["Value"] for t in iot.list_tags_for_resource(resourceArn=got["ruleArn"])["tags"]}
    assert tags == {"team": "ops", "site": "north hall"}
    assert aws_error(lambda: iot.create_topic_rule(ruleName=name, topicRulePayload=payload)) == ("ResourceAlreadyExistsException", 409)

    listed = [r for r in iot.list_topic_rules()["rules"] if r["ruleName"] == name][0]
    assert listed["topicPattern"] == "sensors/+/data" and listed["ruleArn"] == got["ruleArn"] and listed["ruleDisabled"] is False
    assert [r["ruleName"] for r in iot.list_topic_rules(topic="sensors/+/data")["rules"]] == [name]
    assert iot.list_topic_rules(topic="other")["rules"] == []

    iot.disable_topic_rule(ruleName=name)
    assert iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"] is True
    assert name in [r["ruleName"] for r in iot.list_topic_rules(ruleDisabled=True)["rules"]]
    assert name not in [r["ruleName"] for r in iot.list_topic_rules(ruleDisabled=False)["rules"]]
    iot.enable_topic_rule(ruleName=name)
    assert iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"] is False

    # Replace: everything but the name; the default SQL version is AWS's API default.
    iot.replace_topic_rule(ruleName=name, topicRulePayload={"sql": "SELECT * FROM 'other/#'", "actions": []})
    replaced = iot.get_topic_rule(ruleName=name)["rule"]
    assert (replaced["sql"], replaced["actions"], replaced["awsIotSqlVersion"]) == ("SELECT * FROM 'other/#'", [], "2015-10-08")
    assert "description" not in replaced and "errorAction" not in replaced
    assert replaced["createdAt"] == rule["createdAt"]

    # Another region has none of it.
    assert iot_client(gw, region="eu-west-3").list_topic_rules()["rules"] == []
    assert aws_error(lambda: iot_client(gw, region="eu-west-3").get_topic_rule(ruleName=name)) == ("UnauthorizedException", 401)

    iot.delete_topic_rule(ruleName=name)
    assert aws_error_message(lambda: iot.get_topic_rule(ruleName=name)) == ("UnauthorizedException", f"Access to topic rule '{name}' was denied")
    for call in (lambda: iot.delete_topic_rule(ruleName=name), lambda: iot.enable_topic_rule(ruleName=name),
                 lambda: iot.replace_topic_rule(ruleName=name, topicRulePayload={"sql": "SELECT * FROM 'a'", "actions": []})):
        assert aws_error(call) == ("UnauthorizedException", 401)


def test_paging(gw):
    iot = iot_client(gw, region="ap-southeast-2")
    names = sorted(rule_name() for _ in range(5))
    for name in names:
        iot.create_topic_rule(ruleName=name, topicRulePayload={"sql": f"SELECT * FROM 'paging/{name}'", "actions": []})
    pages = list(iot.get_paginator("list_topic_rules").paginate(PaginationConfig={"PageSize": 2}))
    assert [r["ruleName"] for page in pages for r in page["rules"]] == names
    assert [len(page["rules"]) for page in pages] == [2, 2, 1]
    assert aws_error(lambda: iot.list_topic_rules(maxResults=10001)) == ("InvalidRequestException", 400)
    # Rules are kept in the data folder.
    gw.stop()
    gw.start()
    iot = iot_client(gw, region="ap-southeast-2")
    assert [r["ruleName"] for r in iot.list_topic_rules()["rules"]] == names
    assert iot.get_topic_rule(ruleName=names[0])["rule"]["sql"] == f"SELECT * FROM 'paging/{names[0]}'"


def test_bad_rules_are_refused_when_made(gw):
    iot = iot_client(gw)
    code, message = aws_error_message(lambda: iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": "SELECT * FROM 'a' WHERE (", "actions": []}))
    assert code == "SqlParseException" and message.startswith("Line 1:26"), message
    for payload, wanted in [
        ({"sql": "SELECT nosuch(x) FROM 'a'", "actions": []}, "Unknown function: nosuch"),
        ({"sql": "SELECT aws_lambda('arn:aws:lambda:us-east-1:1:function:f', *) FROM 'a'", "actions": []}, "AWS Lambda"),
        ({"sql": "SELECT encode(*, 'base64') FROM 'a'", "actions": []}, "needs SQL version 2016-03-23"),
        ({"sql": "SELECT * FROM '$share/g/a'", "actions": []}, "shared subscription"),
        # botocore checks required and unknown parameters itself; the gateway checks the rest.
        ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {"roleArn": "arn:aws:iam::123456789012:role/r", "topic": "t", "qos": 2}}]},
         "actions[0].republish.qos must be 0 or 1"),
        ({"sql": "SELECT * FROM 'a'", "actions": [{"republish": {"roleArn": "arn:aws:iam::123456789012:role/r", "topic": "${topic("}}]},
         "actions[0].republish.topic"),
        ({"sql": "SELECT * FROM 'a'", "actions": [{"http": {"url": "https://example.com/${topic()}"}}]}, "confirmationUrl is required"),
        ({"sql": "SELECT * FROM 'a'", "actions": [REPUBLISH] * 11}, "at most 10 actions"),
        ({"sql": "SELECT * FROM 'a'", "actions": [], "awsIotSqlVersion": "1999-01-01"}, "awsIotSqlVersion"),
    ]:
        code, message = aws_error_message(lambda: iot.create_topic_rule(ruleName=rule_name(), topicRulePayload=payload))
        assert code == "InvalidRequestException" and wanted in message, (payload, message)
    assert aws_error(lambda: iot.create_topic_rule(ruleName="no-hyphens", topicRulePayload={"sql": "SELECT * FROM 'a'", "actions": []})) \
        == ("InvalidRequestException", 400)


def test_awscli_creates_and_lists_rules(gw, tmp_path):
    iot = awscli(gw)
    name = rule_name()
    (tmp_path / "rule.json").write_text(json.dumps({"sql": "SELECT * FROM 'cli/#'", "actions": [REPUBLISH], "ruleDisabled": True}))
    iot("create-topic-rule", "--rule-name", name, "--topic-rule-payload", f"file://{tmp_path / 'rule.json'}")
    assert iot("get-topic-rule", "--rule-name", name)["rule"]["ruleDisabled"] is True
    assert name in [r["ruleName"] for r in iot("list-topic-rules")["rules"]]
    iot("delete-topic-rule", "--rule-name", name)
