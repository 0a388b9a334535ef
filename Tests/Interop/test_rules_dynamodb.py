"""The rules' dynamoDB and dynamoDBv2 actions (issue 18) write to the gateway's own tables, which boto3's dynamodb
client reads through DynamoDB's API on the gateway's API port: v1 makes its table with the action's keys and
honours INSERT/UPDATE/DELETE; v2 needs a table made with CreateTable and writes each top-level key as an attribute;
failures go to the error action; tables are per region."""

from __future__ import annotations

import json
import subprocess

import boto3
import botocore.config
import pytest

from interop_support import PahoClient, Server, admin_keys, aws_error, endpoint, iot_client, unique, wait_until

ROLE = "arn:aws:iam::123456789012:role/rules"


def dynamodb_client(server: Server, region: str = "us-east-1"):
    key, secret = admin_keys(server)
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def gw(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("rules-dynamodb")).start()
    yield srv
    srv.stop()


def rule_name() -> str:
    return unique("rule").replace("-", "_")


def test_dynamodb_v1_inserts_updates_and_deletes_rows_by_its_keys(gw):
    iot, ddb = iot_client(gw), dynamodb_client(gw)
    tag = unique("v1")
    table = f"readings_{tag}".replace("-", "_")
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT temperature, seq FROM '{tag}/+/data'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"dynamoDB": {"roleArn": ROLE, "tableName": table, "hashKeyField": "device", "hashKeyValue": "${topic(2)}",
                                  "rangeKeyField": "seq", "rangeKeyValue": "${seq}", "rangeKeyType": "NUMBER", "payloadField": "data"}}]})
    iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
        "sql": f"SELECT seq FROM '{tag}/+/forget'",
        "actions": [{"dynamoDB": {"roleArn": ROLE, "tableName": table, "operation": "DELETE", "hashKeyField": "device",
                                  "hashKeyValue": "${topic(2)}", "rangeKeyField": "seq", "rangeKeyValue": "${seq}", "rangeKeyType": "NUMBER"}}]})
    device = gw.mint("ddb-device")
    client = PahoClient(gw, device, unique("d")).connect()
    try:
        for seq, temperature in [(1, 20.5), (2, 21), (1.0, 22)]:  # 1.0 is the same key as 1: replaced
            assert client.publish(f"{tag}/oven/data", json.dumps({"temperature": temperature, "seq": seq}), qos=1) == 0
        items = wait_until(lambda: (got := ddb.scan(TableName=table)["Items"]) and len(got) == 2
                           and any(i["data"]["M"]["temperature"] == {"N": "22"} for i in got) and got)
        by_seq = {item["seq"]["N"]: item for item in items}
        assert set(by_seq) == {"1", "2"}
        assert by_seq["1"]["device"] == {"S": "oven"}
        assert by_seq["2"]["data"] == {"M": {"temperature": {"N": "21"}, "seq": {"N": "2"}}}
        described = ddb.describe_table(TableName=table)["Table"]
        assert described["KeySchema"] == [{"AttributeName": "device", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}]
        assert {"AttributeName": "seq", "AttributeType": "N"} in described["AttributeDefinitions"]
        assert described["TableArn"] == f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
        got = ddb.get_item(TableName=table, Key={"device": {"S": "oven"}, "seq": {"N": "2"}})
        assert got["Item"]["data"]["M"]["temperature"] == {"N": "21"}
        assert client.publish(f"{tag}/oven/forget", json.dumps({"seq": 2}), qos=1) == 0
        wait_until(lambda: "Item" not in ddb.get_item(TableName=table, Key={"device": {"S": "oven"}, "seq": {"N": "2"}}))
        assert len(ddb.scan(TableName=table)["Items"]) == 1
    finally:
        client.close()


def test_dynamodb_v2_needs_a_table_and_writes_each_key_as_an_attribute(gw):
    iot, ddb = iot_client(gw), dynamodb_client(gw)
    tag = unique("v2")
    table = f"things_{tag}".replace("-", "_")
    name = rule_name()
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": f"SELECT * FROM '{tag}/in'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"dynamoDBv2": {"roleArn": ROLE, "putItem": {"tableName": table}}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
    device = gw.mint("ddb2-device")
    client = PahoClient(gw, device, unique("d2")).connect()
    try:
        client.subscribe(f"{tag}/errors")
        # No table yet: the error action says so.
        assert client.publish(f"{tag}/in", json.dumps({"id": "a", "n": 1}), qos=1) == 0
        error = json.loads(client.wait_message(f"{tag}/errors").payload)
        assert error["failures"][0]["failedAction"] == "DynamoDBv2Action"
        assert "ResourceNotFoundException" in error["failures"][0]["errorMessage"]
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        payload = {"id": "a", "n": 1, "ok": True, "none": None, "tags": ["x", 2], "nested": {"deep": 1.5}}
        assert client.publish(f"{tag}/in", json.dumps(payload), qos=1) == 0
        item = wait_until(lambda: ddb.get_item(TableName=table, Key={"id": {"S": "a"}}).get("Item"))
        assert item == {"id": {"S": "a"}, "n": {"N": "1"}, "ok": {"BOOL": True}, "none": {"NULL": True},
                        "tags": {"L": [{"S": "x"}, {"N": "2"}]}, "nested": {"M": {"deep": {"N": "1.5"}}}}
        # The same key replaces the item; a message without the key goes to the error action.
        assert client.publish(f"{tag}/in", json.dumps({"id": "a", "n": 2}), qos=1) == 0
        wait_until(lambda: ddb.get_item(TableName=table, Key={"id": {"S": "a"}})["Item"] == {"id": {"S": "a"}, "n": {"N": "2"}})
        assert client.publish(f"{tag}/in", json.dumps({"n": 3}), qos=1) == 0
        wait_until(lambda: any("required keys" in json.loads(m.payload)["failures"][0]["errorMessage"]
                               for m in client.received(f"{tag}/errors")))
        assert client.publish(f"{tag}/in", json.dumps({"id": 7}), qos=1) == 0
        wait_until(lambda: any("Type mismatch" in json.loads(m.payload)["failures"][0]["errorMessage"]
                               for m in client.received(f"{tag}/errors")))
    finally:
        client.close()


def test_dynamodb_api_shapes_errors_paging_and_regions(gw):
    ddb = dynamodb_client(gw)
    table = unique("api").replace("-", "_")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "N"}], BillingMode="PAY_PER_REQUEST")
    assert aws_error(lambda: ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                                              AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "N"}],
                                              BillingMode="PAY_PER_REQUEST"))[0] == "ResourceInUseException"
    for k in range(5):
        ddb.put_item(TableName=table, Item={"k": {"N": str(k)}, "v": {"S": f"value {k}"}})
    seen, start = [], None
    while True:
        page = ddb.scan(TableName=table, Limit=2, **({"ExclusiveStartKey": start} if start else {}))
        seen += [int(item["k"]["N"]) for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert sorted(seen) == [0, 1, 2, 3, 4] and len(seen) == 5
    assert table in ddb.list_tables()["TableNames"]
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == 5
    assert aws_error(lambda: ddb.put_item(TableName=table, Item={"k": {"S": "text"}}))[0] == "ValidationException"
    assert aws_error(lambda: ddb.get_item(TableName=table, Key={"k": {"N": "1"}, "extra": {"S": "x"}}))[0] == "ValidationException"
    # Another region has its own tables.
    eu = dynamodb_client(gw, region="eu-west-1")
    assert table not in eu.list_tables()["TableNames"]
    assert aws_error(lambda: eu.describe_table(TableName=table))[0] == "ResourceNotFoundException"
    assert ddb.delete_table(TableName=table)["TableDescription"]["TableStatus"] == "DELETING"
    assert aws_error(lambda: ddb.describe_table(TableName=table))[0] == "ResourceNotFoundException"


def test_nothing_is_written_while_the_disk_is_short_of_the_configured_free_space(portcullis_bin, tmp_path):
    # More free space than any disk has: every write is refused, into the error action.
    srv = Server(portcullis_bin, tmp_path / "full", config={"rules": {"minimumFreeDiskMB": 1 << 30}}).start()
    try:
        iot = iot_client(srv)
        tag = unique("full")
        iot.create_topic_rule(ruleName=rule_name(), topicRulePayload={
            "sql": f"SELECT * FROM '{tag}/in'",
            "actions": [{"s3": {"roleArn": ROLE, "bucketName": "full-bucket", "key": "${newuuid()}"}},
                        {"dynamoDB": {"roleArn": ROLE, "tableName": "full_table", "hashKeyField": "id", "hashKeyValue": "x"}}],
            "errorAction": {"republish": {"roleArn": ROLE, "topic": f"{tag}/errors"}}})
        device = srv.mint("full-device")
        client = PahoClient(srv, device, unique("f")).connect()
        try:
            client.subscribe(f"{tag}/errors")
            assert client.publish(f"{tag}/in", b"{}", qos=1) == 0
            failures = json.loads(client.wait_message(f"{tag}/errors").payload)["failures"]
            assert [f["failedAction"] for f in failures] == ["S3Action", "DynamoDBAction"]
            assert all("rules.minimumFreeDiskMB" in f["errorMessage"] for f in failures)
            assert not (srv.data_dir / "rules" / "s3").exists() or not any((srv.data_dir / "rules" / "s3").rglob("*-*"))
            assert aws_error(lambda: dynamodb_client(srv).describe_table(TableName="full_table"))[0] == "ResourceNotFoundException"
        finally:
            client.close()
    finally:
        srv.stop()


def test_only_the_admin_key_reaches_the_tables(gw):
    ddb = dynamodb_client(gw)
    table = unique("private").replace("-", "_")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=table, Item={"k": {"S": "secret"}})
    # A data-plane key (iot-data only, by its IoT policies) is refused, and reads nothing.
    policy = gw.ensure_allow_all_policy()
    made = subprocess.run([str(gw.binary), "access-key", "create", "--data-dir", str(gw.data_dir), "--description", "ddb", "--policy", policy],
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(" = ", 1) for line in made.stdout.splitlines() if " = " in line)
    other = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                         aws_access_key_id=lines["aws_access_key_id"], aws_secret_access_key=lines["aws_secret_access_key"],
                         config=botocore.config.Config(retries={"max_attempts": 1}))
    assert aws_error(lambda: other.scan(TableName=table))[0] == "AccessDeniedException"
    assert aws_error(lambda: other.delete_table(TableName=table))[0] == "AccessDeniedException"
    # A wrong secret for the admin key: the signature is refused.
    key, _ = admin_keys(gw)
    forged = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                          aws_access_key_id=key, aws_secret_access_key="x" * 40, config=botocore.config.Config(retries={"max_attempts": 1}))
    assert aws_error(lambda: forged.scan(TableName=table))[1] == 403
    assert ddb.scan(TableName=table)["Count"] == 1
