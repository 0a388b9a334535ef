"""Fleet indexing with boto3 (issue 17): the indexing configuration, SearchIndex over registry, shadow and
connectivity fields with AWS's query syntax, the aggregations, the thing-group index, paging and errors;
the index follows registry, shadow and connection changes at once, per region."""

from __future__ import annotations

import json
import subprocess

import boto3
import botocore.config
import pytest

from interop_support import MOSQUITTO_SUB, Server, admin_keys, aws_error, endpoint, iot_client, unique


@pytest.fixture(scope="module")
def fleet(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("fleet")).start()
    yield srv
    srv.stop()


def data_client(server: Server, region: str = "us-east-1"):
    key, secret = admin_keys(server)
    return boto3.client("iot-data", region_name=region, endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))


def names(answer: dict) -> list[str]:
    return sorted(t["thingName"] for t in answer["things"])


def test_an_index_that_is_off_does_not_exist(fleet):
    iot = iot_client(fleet, region="ap-south-1")
    assert iot.get_indexing_configuration()["thingIndexingConfiguration"]["thingIndexingMode"] == "OFF"
    assert aws_error(lambda: iot.search_index(queryString="thingName:*")) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.describe_index(indexName="AWS_Things")) == ("ResourceNotFoundException", 404)
    assert iot.list_indices()["indexNames"] == []


def test_search_registry_shadow_and_connectivity(fleet, tmp_path):
    iot, data = iot_client(fleet), data_client(fleet)
    iot.update_indexing_configuration(thingIndexingConfiguration={
        "thingIndexingMode": "REGISTRY_AND_SHADOW", "thingConnectivityIndexingMode": "STATUS"},
        thingGroupIndexingConfiguration={"thingGroupIndexingMode": "ON"})
    config = iot.get_indexing_configuration()
    assert config["thingIndexingConfiguration"]["thingIndexingMode"] == "REGISTRY_AND_SHADOW"
    assert {"name": "connectivity.connected", "type": "Boolean"} in config["thingIndexingConfiguration"]["managedFields"]
    described = iot.describe_index(indexName="AWS_Things")
    assert (described["indexStatus"], described["schema"]) == ("ACTIVE", "REGISTRY_AND_SHADOW_AND_CONNECTIVITY_STATUS")
    assert sorted(iot.list_indices()["indexNames"]) == ["AWS_ThingGroups", "AWS_Things"]

    tag = unique("fx").replace("-", "")
    group = f"{tag}-floor"
    iot.create_thing_group(thingGroupName=group, thingGroupProperties={"thingGroupDescription": "first floor"})
    for i, (color, battery) in enumerate([("red", 15), ("red", 80), ("blue", 55)]):
        name = f"{tag}-lamp-{i}"
        iot.create_thing(thingName=name, attributePayload={"attributes": {"color": color, "batch": tag}})
        data.update_thing_shadow(thingName=name, payload=json.dumps({"state": {"reported": {"battery": battery}, "desired": {"on": True}}}))
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=f"{tag}-lamp-0")

    assert names(iot.search_index(queryString=f"attributes.batch:{tag} AND attributes.color:red")) == [f"{tag}-lamp-0", f"{tag}-lamp-1"]
    assert names(iot.search_index(queryString=f"attributes.batch:{tag} shadow.reported.battery:[50 TO 100]")) == [f"{tag}-lamp-1", f"{tag}-lamp-2"]
    assert names(iot.search_index(queryString=f"thingGroupNames:{group}")) == [f"{tag}-lamp-0"]
    assert names(iot.search_index(queryString=f"thingName:{tag}-lamp-* AND NOT attributes.color:red")) == [f"{tag}-lamp-2"]
    found = iot.search_index(queryString=f"thingName:{tag}-lamp-0")["things"][0]
    assert found["attributes"] == {"color": "red", "batch": tag} and found["thingGroupNames"] == [group]
    assert json.loads(found["shadow"])["reported"] == {"battery": 15}
    assert found["connectivity"]["connected"] is False

    # The index follows changes at once: a shadow update, an attribute, a connection.
    data.update_thing_shadow(thingName=f"{tag}-lamp-0", payload=json.dumps({"state": {"reported": {"battery": 99}}}))
    assert f"{tag}-lamp-0" in names(iot.search_index(queryString=f"attributes.batch:{tag} shadow.reported.battery:>90"))
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.create_policy(policyName=f"{tag}-all", policyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    iot.attach_policy(policyName=f"{tag}-all", target=cert["certificateArn"])
    (tmp_path / "c.pem").write_text(cert["certificatePem"])
    (tmp_path / "c.key").write_text(cert["keyPair"]["PrivateKey"])
    mark = fleet.log_mark()
    sub = subprocess.Popen([MOSQUITTO_SUB, "-h", "localhost", "-p", str(fleet.port), "--cafile", str(fleet.ca_cert), "--cert",
                            str(tmp_path / "c.pem"), "--key", str(tmp_path / "c.key"), "-i", f"{tag}-lamp-2", "-t", "x", "-W", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        fleet.wait_log(mark, eventType="Subscribe", status="Success", clientId=f"{tag}-lamp-2")
        assert names(iot.search_index(queryString=f"attributes.batch:{tag} connectivity.connected:true")) == [f"{tag}-lamp-2"]
        connected = iot.search_index(queryString=f"thingName:{tag}-lamp-2")["things"][0]["connectivity"]
        assert connected["connected"] is True and connected["timestamp"] > 0
    finally:
        sub.kill()
        sub.communicate(timeout=5)
    # After it left (a clean session, so only the broker's lifecycle record knows): when and why.
    fleet.wait_log(mark, eventType="Disconnect", clientId=f"{tag}-lamp-2")
    left = iot.search_index(queryString=f"thingName:{tag}-lamp-2")["things"][0]["connectivity"]
    assert left["connected"] is False and left["timestamp"] >= connected["timestamp"] and left["disconnectReason"]
    assert names(iot.search_index(queryString=f"attributes.batch:{tag} connectivity.disconnectReason:{left['disconnectReason']}")) \
        == [f"{tag}-lamp-2"]

    # Aggregations over the same queries.
    stats = iot.get_statistics(queryString=f"attributes.batch:{tag}", aggregationField="shadow.reported.battery")["statistics"]
    assert stats["count"] == 3 and stats["minimum"] == 55 and stats["maximum"] == 99 and stats["sum"] == 80 + 55 + 99
    assert iot.get_statistics(queryString=f"attributes.batch:{tag}")["statistics"]["count"] == 3
    assert iot.get_cardinality(queryString=f"attributes.batch:{tag}", aggregationField="attributes.color")["cardinality"] == 2
    percentiles = iot.get_percentiles(queryString=f"attributes.batch:{tag}", aggregationField="shadow.reported.battery", percents=[50, 100])
    assert [p["value"] for p in percentiles["percentiles"]] == [80, 99]
    buckets = iot.get_buckets_aggregation(queryString=f"attributes.batch:{tag}", aggregationField="attributes.color",
                                          bucketsAggregationType={"termsAggregation": {"maxBuckets": 5}})
    assert buckets["totalCount"] == 3 and buckets["buckets"][0] == {"keyValue": "red", "count": 2}

    # The thing-group index.
    groups = iot.search_index(indexName="AWS_ThingGroups", queryString=f"thingGroupName:{group}")["thingGroups"]
    assert groups[0]["thingGroupDescription"] == "first floor"


def test_paging_and_errors(fleet):
    iot = iot_client(fleet)
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    tag = unique("pg").replace("-", "")
    made = sorted(f"{tag}-{i}" for i in range(5))
    for name in made:
        iot.create_thing(thingName=name, attributePayload={"attributes": {"batch": tag}})
    seen, token = [], None
    while True:
        page = iot.search_index(queryString=f"attributes.batch:{tag}", maxResults=2, **({"nextToken": token} if token else {}))
        seen += [t["thingName"] for t in page["things"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == made
    assert aws_error(lambda: iot.search_index(queryString="thingName:(a")) == ("InvalidQueryException", 400)
    assert aws_error(lambda: iot.search_index(queryString="thingName:*a AND thingTypeName:*b")) == ("InvalidQueryException", 400)
    assert aws_error(lambda: iot.search_index(indexName="NoSuchIndex", queryString="*")) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "SOMETIMES"})) \
        == ("InvalidRequestException", 400)
    assert aws_error(lambda: iot.get_percentiles(queryString=f"attributes.batch:{tag}", aggregationField="thingName")) \
        == ("InvalidAggregationException", 400)
    # Regions have their own index: eu-west-1 is still off.
    assert aws_error(lambda: iot_client(fleet, region="eu-west-1").search_index(queryString="*")) == ("ResourceNotFoundException", 404)


def test_dynamic_thing_groups_follow_their_query_and_carry_policies(fleet, tmp_path):
    from interop_support import Device, PahoClient, V5
    iot = iot_client(fleet, region="ca-central-1")
    group = unique("dyn")
    assert aws_error(lambda: iot.create_dynamic_thing_group(thingGroupName=group, queryString="attributes.floor:3")) \
        == ("InvalidRequestException", 400), "indexing must be on first"
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    made = iot.create_dynamic_thing_group(thingGroupName=group, queryString="attributes.floor:3",
                                          thingGroupProperties={"thingGroupDescription": "third floor"})
    assert made["queryString"] == "attributes.floor:3" and made["indexName"] == "AWS_Things"
    described = iot.describe_thing_group(thingGroupName=group)
    assert described["queryString"] == "attributes.floor:3" and described["status"] == "ACTIVE"
    assert aws_error(lambda: iot.create_dynamic_thing_group(thingGroupName=unique("d"), queryString="shadow.reported.x:1")) \
        == ("InvalidQueryException", 400)

    thing = unique("sensor")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"floor": "3"}})
    iot.create_thing(thingName=unique("elsewhere"), attributePayload={"attributes": {"floor": "2"}})
    assert iot.list_things_in_thing_group(thingGroupName=group)["things"] == [thing]
    assert group in iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"][0]["groupName"]
    assert aws_error(lambda: iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)) == ("InvalidRequestException", 400)

    # A policy attached to the dynamic group applies to its member's connection, and stops applying
    # the moment the thing leaves the group by changing its attribute.
    cert = iot.create_keys_and_certificate(setAsActive=True)
    (tmp_path / "d.pem").write_text(cert["certificatePem"])
    (tmp_path / "d.key").write_text(cert["keyPair"]["PrivateKey"])
    iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    connect = unique("connect")
    iot.create_policy(policyName=connect, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}))
    iot.attach_policy(policyName=connect, target=cert["certificateArn"])
    publish = unique("publish")
    iot.create_policy(policyName=publish, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}]}))
    iot.attach_policy(policyName=publish, target=made["thingGroupArn"])
    device = Device("dyn", tmp_path / "d.pem", tmp_path / "d.key", fleet.ca_cert, cert["certificateId"])
    # The client connects to the region's name.
    client = PahoClient(fleet, device, thing, V5, host="iot.ca-central-1.localhost")
    try:
        client.connect()
        assert client.publish("floor3/report", b"member", qos=1) == 0
        iot.update_thing(thingName=thing, attributePayload={"attributes": {"floor": "4"}, "merge": True})
        assert iot.list_things_in_thing_group(thingGroupName=group)["things"] == []
        assert client.publish("floor3/report", b"no longer", qos=1) == 0x87
    finally:
        client.close()
    iot.delete_dynamic_thing_group(thingGroupName=group)
    assert aws_error(lambda: iot.describe_thing_group(thingGroupName=group)) == ("ResourceNotFoundException", 404)
