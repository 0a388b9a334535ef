"""The rules engine running (issue 18): a republish rule seen by paho and mosquitto clients, the SQL's WHERE,
Basic Ingest (straight to one rule, never to subscribers), the error action with AWS's payload, the s3 action's
objects in the data folder, loops stopped, and rules per region."""

from __future__ import annotations

import base64
import json

import pytest

from interop_support import PahoClient, Server, aws_error, iot_client, mosquitto_pub, unique, wait_until

ROLE = "arn:aws:iam::123456789012:role/rules"


@pytest.fixture(scope="module")
def gw(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("engine")).start()
    yield srv
    srv.stop()


def rule_name() -> str:
    return unique("rule").replace("-", "_")


def test_republish_where_and_mqtt5_headers(gw):
    iot = iot_client(gw)
    tag = unique("t")
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT temperature AS t, topic(2) AS room, clientid() AS who FROM '{tag}/+/data' WHERE temperature > 50",
        "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/alerts/${{topic(2)}}", "qos": 1,
                                   "headers": {"contentType": "application/json", "userProperties": [{"key": "rule", "value": "hot"}]}}}]})
    device = gw.mint("engine-device")
    watcher = PahoClient(gw, device, unique("watcher")).connect()
    publisher = PahoClient(gw, device, unique("sensor")).connect()
    try:
        watcher.subscribe(f"{tag}/alerts/#")
        assert publisher.publish(f"{tag}/kitchen/data", json.dumps({"temperature": 40}), qos=1) == 0
        assert publisher.publish(f"{tag}/kitchen/data", json.dumps({"temperature": 60}), qos=1) == 0
        got = watcher.wait_message(f"{tag}/alerts/kitchen")
        assert json.loads(got.payload) == {"t": 60, "room": "kitchen", "who": publisher.client_id}
        assert got.qos == 1 and got.prop("ContentType") == "application/json"
        assert ("rule", "hot") in (got.prop("UserProperty") or [])
        # The cold reading, published first, triggered nothing: one alert only.
        watcher.assert_no_message(f"{tag}/alerts/other", within=0.3)
        assert len(watcher.received(f"{tag}/alerts/kitchen")) == 1
    finally:
        watcher.close()
        publisher.close()


def test_basic_ingest_reaches_only_its_rule(gw):
    iot = iot_client(gw)
    tag, name = unique("bi"), rule_name()
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": "SELECT *, topic() AS seen FROM 'never/matches'", "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/out"}}]})
    device = gw.mint("ingest-device")
    client = PahoClient(gw, device, unique("ingest")).connect()
    try:
        client.subscribe(f"{tag}/out")
        spy = PahoClient(gw, device, unique("spy")).connect()
        spy.subscribe([f"$aws/rules/{name}/#", "Buildings/#"])
        # Basic Ingest with mosquitto_pub: the rule gets it (FROM is not consulted), subscribers never do.
        result = mosquitto_pub(gw, device, unique("pub"), f"$aws/rules/{name}/Buildings/Building5", message='{"lights": "on"}', qos=1)
        assert result.returncode == 0, result.stderr
        got = client.wait_message(f"{tag}/out")
        assert json.loads(got.payload) == {"lights": "on", "seen": "Buildings/Building5"}
        assert spy.received() == [], "a Basic Ingest message is never delivered to subscribers"
        # A rule that does not exist: accepted (PUBACK 0, as AWS) and goes nowhere.
        assert client.publish("$aws/rules/no_such_rule/x", b"{}", qos=1) == 0
        spy.close()
    finally:
        client.close()


def test_error_action_gets_awss_payload_and_s3_writes_objects(gw):
    iot = iot_client(gw)
    tag, name = unique("err"), rule_name()
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'",
        "actions": [{"s3": {"roleArn": ROLE, "bucketName": "archive", "key": "${topic()}/${clientid()}.json"}},
                    {"sqs": {"roleArn": ROLE, "queueUrl": "https://sqs.us-west-2.amazonaws.com/123456789012/q"}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    device = gw.mint("error-device")
    client = PahoClient(gw, device, unique("err-client")).connect()
    try:
        client.subscribe(f"{tag}/errors")
        assert client.publish(f"{tag}/in", b'{"v": 1}', qos=1) == 0
        error = json.loads(client.wait_message(f"{tag}/errors").payload)
        assert error["ruleName"] == name and error["topic"] == f"{tag}/in" and error["clientId"] == client.client_id
        assert base64.b64decode(error["base64OriginalPayload"]) == b'{"v": 1}'
        assert [f["failedAction"] for f in error["failures"]] == ["SqsAction"], "the s3 action succeeded"
        assert error["cloudwatchTraceId"]
        stored = gw.data_dir / "rules" / "s3" / "default" / "archive" / tag / "in" / f"{client.client_id}.json"
        assert wait_until(stored.exists), stored
        assert json.loads(stored.read_text()) == {"v": 1}
    finally:
        client.close()


def test_rules_follow_changes_and_loops_stop(gw):
    iot = iot_client(gw)
    tag, name = unique("loop"), rule_name()
    # A rule that republishes onto its own FROM: AWS warns of endless loops; here they stop at depth 8.
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/#'", "actions": [{"republish": {"roleArn": ROLE, "topic": "${topic()}"}}]})
    device = gw.mint("loop-device")
    client = PahoClient(gw, device, unique("loop")).connect()
    try:
        client.subscribe(f"{tag}/#")
        assert client.publish(tag + "/a", b"{}", qos=1) == 0
        # The device's own message and nine republishes (depths 0 to 8), then the loop stops: a second loop,
        # queued behind the first, ends with no eleventh message of the first.
        client.wait_messages(10, topic=tag + "/a")
        assert client.publish(tag + "/marker", b"{}", qos=1) == 0
        client.wait_messages(10, topic=tag + "/marker")
        assert len(client.received(tag + "/a")) == 10
        iot.disable_topic_rule(ruleName=name)
        assert client.publish(tag + "/b", b"{}", qos=1) == 0
        client.wait_message(tag + "/b")
        client.assert_no_message(tag + "/disabled-check", within=0.3)
        assert len(client.received(tag + "/b")) == 1, "a disabled rule republishes nothing"
        iot.enable_topic_rule(ruleName=name)
        iot.replace_topic_rule(ruleName=name, topicRulePayload={
            "sql": f"SELECT 'replaced' AS v FROM '{tag}/c'", "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/done"}}]})
        assert client.publish(tag + "/c", b"{}", qos=1) == 0
        assert json.loads(client.wait_message(f"{tag}/done").payload) == {"v": "replaced"}
        iot.delete_topic_rule(ruleName=name)
    finally:
        client.close()


def test_iot_data_publish_triggers_rules(gw):
    import boto3
    import botocore.config
    from interop_support import admin_keys, endpoint
    iot = iot_client(gw)
    tag = unique("http")
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT VALUE concat(clientid(), '/', principal()) FROM '{tag}/in'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/out"}}]})
    # The same FROM in another region: that region's messages only.
    iot_client(gw, region="eu-west-1").create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'", "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/other-region"}}]})
    key, secret = admin_keys(gw)
    data = boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))
    device = gw.mint("http-watch")
    client = PahoClient(gw, device, unique("watch")).connect()
    try:
        client.subscribe(f"{tag}/out")
        data.publish(topic=f"{tag}/in", qos=1, payload=b"{}")
        assert json.loads(client.wait_message(f"{tag}/out").payload) == f"n/a/{key}"
        client.assert_no_message(f"{tag}/other-region", within=0.3)
    finally:
        client.close()


def test_rules_take_lifecycle_events_and_shadow_answers(gw):
    iot = iot_client(gw)
    tag = unique("ev")
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": "SELECT clientId, eventType FROM '$aws/events/presence/connected/+'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/presence"}}]})
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": "SELECT state.reported.on AS on, topic(3) AS thing FROM '$aws/things/+/shadow/update/accepted'",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/shadow"}}]})
    device = gw.mint("events-device")
    watcher = PahoClient(gw, device, unique("ev-watch")).connect()
    try:
        watcher.subscribe([f"{tag}/presence", f"{tag}/shadow"])
        other = PahoClient(gw, device, unique("ev-other")).connect()
        got = watcher.wait_message(f"{tag}/presence", predicate=lambda m: json.loads(m.payload)["clientId"] == other.client_id)
        assert json.loads(got.payload)["eventType"] == "connected"
        thing = unique("lamp")
        assert other.publish(f"$aws/things/{thing}/shadow/update", json.dumps({"state": {"reported": {"on": True}}}), qos=1) == 0
        assert json.loads(watcher.wait_message(f"{tag}/shadow").payload) == {"on": True, "thing": thing}
        other.close()
    finally:
        watcher.close()


def test_get_registry_data_reads_the_things_registry(gw):
    iot = iot_client(gw)
    tag = unique("reg")
    thing, group = unique("oven").replace("-", "_"), unique("kitchen")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"site": "north"}})
    iot.create_thing_group(thingGroupName=group)
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT get_registry_data('DescribeThing', topic(2), '{ROLE}') AS info FROM '{tag}/+/in'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/described"}}]})
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT get_registry_data('ListThingGroupsForThing', topic(2), '{ROLE}').thingGroups AS groups FROM '{tag}/+/in'",
        "awsIotSqlVersion": "2016-03-23", "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/grouped"}}]})
    # A rule may call it once.
    code, _ = aws_error(lambda: iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT get_registry_data('DescribeThing', topic(2), '{ROLE}') AS a, "
               f"get_registry_data('ListThingGroupsForThing', topic(2), '{ROLE}') AS b FROM '{tag}/+/in'",
        "awsIotSqlVersion": "2016-03-23", "actions": [{"republish": {"roleArn": ROLE, "topic": f"{tag}/x"}}]}))
    assert code == "InvalidRequestException"
    device = gw.mint("registry-device")
    client = PahoClient(gw, device, unique("reg")).connect()
    try:
        client.subscribe([f"{tag}/described", f"{tag}/grouped"])
        assert client.publish(f"{tag}/{thing}/in", b"{}", qos=1) == 0
        info = json.loads(client.wait_message(f"{tag}/described").payload)["info"]
        described = iot.describe_thing(thingName=thing)
        assert info["thingName"] == thing and info["attributes"] == {"site": "north"} and info["thingArn"] == described["thingArn"]
        assert info["thingId"] == described["thingId"] and info["version"] == described["version"]
        groups = json.loads(client.wait_message(f"{tag}/grouped").payload)["groups"]
        assert groups == [{"groupName": group, "groupArn": iot.describe_thing_group(thingGroupName=group)["thingGroupArn"]}]
        # No such thing: Undefined, the key left out.
        assert client.publish(f"{tag}/nobody/in", b"{}", qos=1) == 0
        wait_until(lambda: len(client.received(f"{tag}/described")) == 2)
        assert json.loads(client.received(f"{tag}/described")[1].payload) == {}
    finally:
        client.close()
