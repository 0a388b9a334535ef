"""Thing types, static thing groups and tags with boto3 and awscli (reference 9.2, 9.3): a type lifts the
attribute limit and can be deprecated, groups nest with a fixed parent, things join and leave them, policies
attach to groups, tags go on policies, groups, types and CAs; each refusal's AWS name and status; all of it
survives a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interop_support import awscli, Server, aws_error as error_of, iot_client, unique


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def test_thing_type_round_trip_and_deprecation(iot):
    name = unique("type")
    created = iot.create_thing_type(thingTypeName=name, thingTypeProperties={
        "thingTypeDescription": "lamps", "searchableAttributes": ["room"]}, tags=[{"Key": "team", "Value": "a"}])
    assert created["thingTypeArn"] == f"arn:aws:iot:us-east-1:123456789012:thingtype/{name}"
    described = iot.describe_thing_type(thingTypeName=name)
    assert described["thingTypeProperties"]["searchableAttributes"] == ["room"]
    assert described["thingTypeMetadata"]["deprecated"] is False
    assert iot.list_tags_for_resource(resourceArn=created["thingTypeArn"])["tags"] == [{"Key": "team", "Value": "a"}]
    assert [t["thingTypeName"] for t in iot.list_thing_types(thingTypeName=name)["thingTypes"]] == [name]

    thing = unique("lamp")
    attributes = {f"a{i}": "v" for i in range(50)}
    iot.create_thing(thingName=thing, thingTypeName=name, attributePayload={"attributes": attributes})
    assert iot.describe_thing(thingName=thing)["thingTypeName"] == name
    assert error_of(lambda: iot.create_thing(thingName=unique("t"), thingTypeName=name,
                                             attributePayload={"attributes": dict(attributes, extra="1")})) == ("InvalidRequestException", 400)
    iot.deprecate_thing_type(thingTypeName=name)
    assert iot.describe_thing_type(thingTypeName=name)["thingTypeMetadata"]["deprecated"] is True
    assert error_of(lambda: iot.create_thing(thingName=unique("t"), thingTypeName=name)) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.delete_thing_type(thingTypeName=name)) == ("InvalidRequestException", 400)
    iot.deprecate_thing_type(thingTypeName=name, undoDeprecate=True)
    assert iot.describe_thing_type(thingTypeName=name)["thingTypeMetadata"]["deprecated"] is False
    assert error_of(lambda: iot.describe_thing_type(thingTypeName=unique("missing"))) == ("ResourceNotFoundException", 404)


def test_thing_groups_membership_and_policies(iot):
    site, floor, other = unique("site"), unique("floor"), unique("other")
    site_arn = iot.create_thing_group(thingGroupName=site, thingGroupProperties={
        "thingGroupDescription": "HQ", "attributePayload": {"attributes": {"city": "Lyon"}}})["thingGroupArn"]
    iot.create_thing_group(thingGroupName=floor, parentGroupName=site)
    iot.create_thing_group(thingGroupName=other)
    described = iot.describe_thing_group(thingGroupName=floor)
    assert described["thingGroupMetadata"]["parentGroupName"] == site
    assert described["thingGroupMetadata"]["rootToParentThingGroups"] == [{"groupName": site, "groupArn": site_arn}]
    assert iot.describe_thing_group(thingGroupName=site)["thingGroupProperties"]["attributePayload"]["attributes"] == {"city": "Lyon"}
    assert [g["groupName"] for g in iot.list_thing_groups(parentGroup=site)["thingGroups"]] == [floor]

    thing = unique("member")
    iot.create_thing(thingName=thing)
    iot.add_thing_to_thing_group(thingGroupName=floor, thingName=thing)
    assert error_of(lambda: iot.add_thing_to_thing_group(thingGroupName=site, thingName=thing)) == ("InvalidRequestException", 400)
    iot.update_thing_groups_for_thing(thingName=thing, thingGroupsToAdd=[other])
    assert sorted(g["groupName"] for g in iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"]) == sorted([floor, other])
    assert iot.list_things_in_thing_group(thingGroupName=site, recursive=True)["things"] == [thing]
    assert iot.list_things_in_thing_group(thingGroupName=site)["things"] == []

    policy = unique("group-policy")
    iot.create_policy(policyName=policy, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iot.attach_policy(policyName=policy, target=site_arn)
    floor_arn = iot.describe_thing_group(thingGroupName=floor)["thingGroupArn"]
    assert [p["policyName"] for p in iot.list_attached_policies(target=floor_arn, recursive=True)["policies"]] == [policy]
    assert iot.list_attached_policies(target=floor_arn)["policies"] == []

    assert error_of(lambda: iot.delete_thing_group(thingGroupName=site)) == ("InvalidRequestException", 400)
    version = iot.update_thing_group(thingGroupName=floor, thingGroupProperties={"thingGroupDescription": "2nd"}, expectedVersion=1)["version"]
    assert version == 2
    assert error_of(lambda: iot.update_thing_group(thingGroupName=floor, thingGroupProperties={}, expectedVersion=1)) \
        == ("VersionConflictException", 409)
    iot.remove_thing_from_thing_group(thingGroupArn=floor_arn, thingName=thing)
    iot.delete_thing_group(thingGroupName=floor)
    iot.delete_thing_group(thingGroupName=site)
    assert iot.list_targets_for_policy(policyName=policy)["targets"] == []


def test_tags_on_policies(iot):
    name = unique("tagged")
    arn = iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}), tags=[{"Key": "env", "Value": "prod"}])["policyArn"]
    iot.tag_resource(resourceArn=arn, tags=[{"Key": "team", "Value": "b"}])
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "b"}]
    iot.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "team", "Value": "b"}]
    assert error_of(lambda: iot.tag_resource(resourceArn=arn, tags=[{"Key": "aws:x", "Value": "1"}])) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.list_tags_for_resource(resourceArn=arn + "-missing")) == ("ResourceNotFoundException", 404)


def test_awscli_groups(server):
    run = awscli(server)

    group, thing = unique("cli-group"), unique("cli-thing")
    run("create-thing-group", "--thing-group-name", group)
    run("create-thing", "--thing-name", thing)
    run("add-thing-to-thing-group", "--thing-group-name", group, "--thing-name", thing)
    assert run("list-things-in-thing-group", "--thing-group-name", group)["things"] == [thing]


def test_types_groups_and_tags_survive_a_restart(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path).start()
    try:
        iot = iot_client(srv)
        iot.create_thing_type(thingTypeName="kept-type")
        iot.create_thing_group(thingGroupName="kept-group", tags=[{"Key": "k", "Value": "v"}])
        iot.create_thing(thingName="kept-thing", thingTypeName="kept-type")
        iot.add_thing_to_thing_group(thingGroupName="kept-group", thingName="kept-thing")
        srv.stop()
        srv.start()
        iot = iot_client(srv)
        assert iot.describe_thing(thingName="kept-thing")["thingTypeName"] == "kept-type"
        assert iot.list_things_in_thing_group(thingGroupName="kept-group")["things"] == ["kept-thing"]
        arn = iot.describe_thing_group(thingGroupName="kept-group")["thingGroupArn"]
        assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "k", "Value": "v"}]
    finally:
        srv.stop()
