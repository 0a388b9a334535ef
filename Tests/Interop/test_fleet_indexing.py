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


def device_publishing_by_group(server: Server, iot, tmp_path, thing: str, group_arn: str):
    """A new certificate attached to `thing`, allowed to connect by its own policy and to publish only by
    a policy attached to the group `group_arn`."""
    from interop_support import Device
    cert = iot.create_keys_and_certificate(setAsActive=True)
    (tmp_path / f"{thing}.pem").write_text(cert["certificatePem"])
    (tmp_path / f"{thing}.key").write_text(cert["keyPair"]["PrivateKey"])
    iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    for action, target in (("iot:Connect", cert["certificateArn"]), ("iot:Publish", group_arn)):
        name = unique(action.split(":")[1].lower())
        iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": "*"}]}))
        iot.attach_policy(policyName=name, target=target)
    return Device(thing, tmp_path / f"{thing}.pem", tmp_path / f"{thing}.key", server.ca_cert, cert["certificateId"])


def test_dynamic_thing_groups_follow_their_query_and_carry_policies(fleet, tmp_path):
    from interop_support import PahoClient, V5
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
    assert aws_error(lambda: iot.create_dynamic_thing_group(thingGroupName=unique("d"), queryString="shadow.reported.x:(1")) \
        == ("InvalidQueryException", 400)
    assert aws_error(lambda: iot.create_dynamic_thing_group(thingGroupName=unique("d"), queryString="floor3")) \
        == ("InvalidQueryException", 400), "every term of a dynamic group's query names its field"

    thing = unique("sensor")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"floor": "3"}})
    iot.create_thing(thingName=unique("elsewhere"), attributePayload={"attributes": {"floor": "2"}})
    assert iot.list_things_in_thing_group(thingGroupName=group)["things"] == [thing]
    assert group in iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"][0]["groupName"]
    assert aws_error(lambda: iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)) == ("InvalidRequestException", 400)

    # A policy attached to the dynamic group applies to its member's connection, and stops applying
    # the moment the thing leaves the group by changing its attribute.
    device = device_publishing_by_group(fleet, iot, tmp_path, thing, made["thingGroupArn"])
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


def test_dynamic_groups_follow_shadows_and_connections_live(fleet, tmp_path):
    """A dynamic group on shadow and connectivity fields: a thing joins and leaves it as its shadow changes
    and as it connects and disconnects, and a policy attached to the group follows on the live connection."""
    from interop_support import PahoClient, V5, wait_until
    region = "eu-north-1"
    iot, data = iot_client(fleet, region=region), data_client(fleet, region=region)
    iot.update_indexing_configuration(thingIndexingConfiguration={
        "thingIndexingMode": "REGISTRY_AND_SHADOW", "thingConnectivityIndexingMode": "STATUS"})
    charged, online = unique("charged"), unique("online")
    charged_arn = iot.create_dynamic_thing_group(thingGroupName=charged, queryString="shadow.reported.battery:>80")["thingGroupArn"]
    iot.create_dynamic_thing_group(thingGroupName=online, queryString="connectivity.connected:true AND thingTypeName:*")
    thing_type = unique("meter")
    iot.create_thing_type(thingTypeName=thing_type)
    thing, other = unique("meter"), unique("meter")
    for name in (thing, other):
        iot.create_thing(thingName=name, thingTypeName=thing_type)

    def members(group):
        return sorted(iot.list_things_in_thing_group(thingGroupName=group)["things"])

    assert members(charged) == [] and members(online) == []
    data.update_thing_shadow(thingName=other, payload=json.dumps({"state": {"reported": {"battery": 95}}}))
    assert wait_until(lambda: members(charged) == [other])
    assert charged in [g["groupName"] for g in iot.list_thing_groups_for_thing(thingName=other)["thingGroups"]]
    # SearchIndex lists the dynamic groups a thing is in now.
    found = iot.search_index(queryString=f"thingName:{other}")["things"][0]
    assert charged in found["thingGroupNames"]

    device = device_publishing_by_group(fleet, iot, tmp_path, thing, charged_arn)
    client = PahoClient(fleet, device, thing, V5, host=f"iot.{region}.localhost")
    try:
        client.connect()
        # Connected: the thing joins the connectivity group (the other never connected).
        assert wait_until(lambda: members(online) == [thing])
        assert client.publish("meter/reading", b"flat battery", qos=1) == 0x87
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"battery": 81}}}))
        assert wait_until(lambda: members(charged) == sorted([thing, other]))
        assert wait_until(lambda: client.publish("meter/reading", b"charged", qos=1) == 0), \
            "the group's policy applies to the live connection once the shadow matches"
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"battery": 20}}}))
        assert wait_until(lambda: members(charged) == [other])
        assert wait_until(lambda: client.publish("meter/reading", b"drained", qos=1) == 0x87)
    finally:
        client.close()
    assert wait_until(lambda: members(online) == [])
    # Deleting the shadow takes the other thing out.
    data.delete_thing_shadow(thingName=other)
    assert wait_until(lambda: members(charged) == [])
    # A region without these groups sees none of it.
    assert iot_client(fleet, region="eu-west-3").list_thing_groups()["thingGroups"] == []


def test_a_things_last_disconnect_is_kept_across_restarts(portcullis_bin, tmp_path):
    """AWS's index keeps when and why a thing last disconnected; the broker forgets a client id an hour
    after it leaves, so the gateway keeps a registered thing's last disconnect in its store."""
    import sqlite3
    from interop_support import mosquitto_pub, wait_until
    srv = Server(portcullis_bin, tmp_path / "srv").start()
    thing = unique("kept")

    def stored() -> list[str]:
        with sqlite3.connect(f"file:{srv.data_dir / 'registry.sqlite'}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("SELECT thing FROM disconnect")]
    try:
        iot = iot_client(srv)
        iot.update_indexing_configuration(thingIndexingConfiguration={
            "thingIndexingMode": "REGISTRY", "thingConnectivityIndexingMode": "STATUS"})
        device = srv.mint("kept-device")
        iot.create_thing(thingName=thing)
        iot.attach_thing_principal(thingName=thing,
                                   principal=iot.describe_certificate(certificateId=device.cert_id)["certificateDescription"]["certificateArn"])
        assert iot.search_index(queryString=f"thingName:{thing}")["things"][0]["connectivity"] == {"connected": False}
        assert mosquitto_pub(srv, device, thing, "kept/a", message="hello", qos=1).returncode == 0
        # A client id that is no thing is not kept.
        assert mosquitto_pub(srv, device, unique("stranger"), "kept/b", message="hello", qos=1).returncode == 0
        before = iot.search_index(queryString=f"thingName:{thing}")["things"][0]["connectivity"]
        assert not before["connected"] and before["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT", before
        assert wait_until(lambda: stored() == [thing]), stored()
    finally:
        srv.stop()
    srv.start()
    try:
        iot = iot_client(srv)
        after = iot.search_index(queryString=f"thingName:{thing}")["things"][0]["connectivity"]
        assert after == {"connected": False, "timestamp": before["timestamp"], "disconnectReason": "CLIENT_INITIATED_DISCONNECT"}
        # A deleted thing's history goes with it: the same name made again has none.
        iot.detach_thing_principal(thingName=thing, principal=iot.list_thing_principals(thingName=thing)["principals"][0])
        iot.delete_thing(thingName=thing)
        iot.create_thing(thingName=thing)
        assert iot.search_index(queryString=f"thingName:{thing}")["things"][0]["connectivity"] == {"connected": False}
        assert stored() == []
    finally:
        srv.stop()
