"""Thing operations of the AWS-compatible API with boto3 and awscli (reference 9.2, 9.3): create
(idempotent for the same thing), describe, list with attribute filters and pagination, update (merge,
replace, remove an attribute, expectedVersion), delete, and each refusal's AWS name and status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interop_support import awscli, aws_error as error_of, Server, iot_client, unique


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def test_create_describe_and_idempotence(iot):
    name = unique("thing")
    created = iot.create_thing(thingName=name, attributePayload={"attributes": {"room": "lab/1"}})
    assert created["thingArn"] == f"arn:aws:iot:us-east-1:123456789012:thing/{name}" and created["thingId"]
    again = iot.create_thing(thingName=name, attributePayload={"attributes": {"room": "lab/1"}})
    assert again["thingId"] == created["thingId"], "the same thing again is not an error"
    assert error_of(lambda: iot.create_thing(thingName=name, attributePayload={"attributes": {"room": "other"}})) \
        == ("ResourceAlreadyExistsException", 409)
    described = iot.describe_thing(thingName=name)
    assert described["defaultClientId"] == name and described["version"] == 1
    assert described["attributes"] == {"room": "lab/1"} and described["thingId"] == created["thingId"]


def test_refusals(iot):
    assert error_of(lambda: iot.describe_thing(thingName=unique("missing"))) == ("ResourceNotFoundException", 404)
    assert error_of(lambda: iot.create_thing(thingName=unique("t"), attributePayload={"attributes": {"a": "1", "b": "2", "c": "3", "d": "4"}})) \
        == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.create_thing(thingName=unique("t"), attributePayload={"attributes": {"a": "has space"}})) \
        == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.create_thing(thingName=unique("t"), thingTypeName="no-such-type")) == ("ResourceNotFoundException", 404)


def test_update_merge_replace_and_versions(iot):
    name = unique("thing")
    iot.create_thing(thingName=name, attributePayload={"attributes": {"a": "1", "b": "2"}})
    iot.update_thing(thingName=name, attributePayload={"attributes": {"b": "", "c": "3"}, "merge": True}, expectedVersion=1)
    assert iot.describe_thing(thingName=name)["attributes"] == {"a": "1", "c": "3"}
    iot.update_thing(thingName=name, attributePayload={"attributes": {"z": "9"}})
    described = iot.describe_thing(thingName=name)
    assert described["attributes"] == {"z": "9"} and described["version"] == 3
    assert error_of(lambda: iot.update_thing(thingName=name, attributePayload={"attributes": {}}, expectedVersion=1)) \
        == ("VersionConflictException", 409)
    assert error_of(lambda: iot.delete_thing(thingName=name, expectedVersion=1)) == ("VersionConflictException", 409)
    iot.delete_thing(thingName=name, expectedVersion=3)
    iot.delete_thing(thingName=name)  # deleting what is gone succeeds, as on AWS
    assert error_of(lambda: iot.describe_thing(thingName=name))[0] == "ResourceNotFoundException"


def test_list_filters_and_pages(iot):
    tag = unique("floor").replace("-", "")
    names = [unique("listed") for _ in range(5)]
    for i, name in enumerate(names):
        iot.create_thing(thingName=name, attributePayload={"attributes": {"floor": f"{tag}-{i % 2}"}})
    even = iot.list_things(attributeName="floor", attributeValue=f"{tag}-0")["things"]
    assert sorted(t["thingName"] for t in even) == sorted(names[0::2])
    prefixed = iot.list_things(attributeName="floor", attributeValue=tag, usePrefixAttributeValue=True)["things"]
    assert sorted(t["thingName"] for t in prefixed) == sorted(names)
    pages = list(iot.get_paginator("list_things").paginate(attributeName="floor", attributeValue=tag,
                                                           usePrefixAttributeValue=True, PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3 and sorted(t["thingName"] for p in pages for t in p["things"]) == sorted(names)
    assert error_of(lambda: iot.list_things(nextToken="not-a-token")) == ("InvalidRequestException", 400)


def test_awscli_thing_round_trip(server):
    run = awscli(server)
    name = unique("cli-thing")

    run("create-thing", "--thing-name", name, "--attribute-payload", '{"attributes": {"model": "x1"}}')
    assert run("describe-thing", "--thing-name", name)["attributes"] == {"model": "x1"}
    run("update-thing", "--thing-name", name, "--attribute-payload", '{"attributes": {"fw": "1.2"}, "merge": true}')
    assert run("describe-thing", "--thing-name", name)["attributes"] == {"model": "x1", "fw": "1.2"}
    run("delete-thing", "--thing-name", name)


def test_things_survive_a_restart(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path).start()
    try:
        iot = iot_client(srv)
        thing_id = iot.create_thing(thingName="kept", attributePayload={"attributes": {"a": "1"}})["thingId"]
        iot.update_thing(thingName="kept", attributePayload={"attributes": {"b": "2"}, "merge": True})
        iot.create_thing(thingName="gone")
        iot.delete_thing(thingName="gone")
        srv.stop()
        srv.start()
        described = iot_client(srv).describe_thing(thingName="kept")
        assert described["thingId"] == thing_id and described["attributes"] == {"a": "1", "b": "2"} and described["version"] == 2
        assert [t["thingName"] for t in iot_client(srv).list_things()["things"]] == ["kept"]
    finally:
        srv.stop()
