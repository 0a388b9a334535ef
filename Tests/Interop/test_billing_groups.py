"""Billing groups with boto3 (botocore `iot`): create, describe, list with a prefix and pages, update with
expected versions, tags, things joining (by name or ARN) and leaving, one billing group per thing,
`billingGroupName` on CreateThing and DescribeThing, deletion of a group and of a thing; in the region the
request is signed for only; all of it survives a restart."""

from __future__ import annotations

import pytest

from interop_support import Server, aws_error, iot_client, unique

ARN = "arn:aws:iot:us-east-1:123456789012"


@pytest.fixture(scope="module")
def billing_server(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("billing")).start()
    yield srv
    srv.stop()


def test_billing_group_round_trip(billing_server):
    iot = iot_client(billing_server)
    name = unique("bill")
    made = iot.create_billing_group(billingGroupName=name, billingGroupProperties={"billingGroupDescription": "floor 3"},
                                    tags=[{"Key": "cost-center", "Value": "42"}])
    assert made["billingGroupArn"] == f"{ARN}:billinggroup/{name}" and made["billingGroupId"]
    # The same call again is answered with the same group; other properties are a conflict.
    assert iot.create_billing_group(billingGroupName=name, billingGroupProperties={"billingGroupDescription": "floor 3"})["billingGroupId"] \
        == made["billingGroupId"]
    assert aws_error(lambda: iot.create_billing_group(billingGroupName=name, billingGroupProperties={"billingGroupDescription": "other"})) \
        == ("ResourceAlreadyExistsException", 409)
    described = iot.describe_billing_group(billingGroupName=name)
    assert described["billingGroupProperties"] == {"billingGroupDescription": "floor 3"}
    assert described["version"] == 1 and described["billingGroupMetadata"]["creationDate"]
    assert iot.list_tags_for_resource(resourceArn=made["billingGroupArn"])["tags"] == [{"Key": "cost-center", "Value": "42"}]
    assert iot.update_billing_group(billingGroupName=name, billingGroupProperties={"billingGroupDescription": "floor 4"},
                                    expectedVersion=1)["version"] == 2
    assert aws_error(lambda: iot.update_billing_group(billingGroupName=name, billingGroupProperties={}, expectedVersion=1)) \
        == ("VersionConflictException", 409)
    assert iot.describe_billing_group(billingGroupName=name)["billingGroupProperties"]["billingGroupDescription"] == "floor 4"
    assert aws_error(lambda: iot.describe_billing_group(billingGroupName=unique("none"))) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.create_billing_group(billingGroupName="bad name")) == ("InvalidRequestException", 400)
    assert aws_error(lambda: iot.delete_billing_group(billingGroupName=name, expectedVersion=1)) == ("VersionConflictException", 409)
    iot.delete_billing_group(billingGroupName=name)
    iot.delete_billing_group(billingGroupName=name)  # deleting what is gone succeeds, as on AWS
    assert aws_error(lambda: iot.describe_billing_group(billingGroupName=name)) == ("ResourceNotFoundException", 404)


def test_listing_by_prefix_and_pages(billing_server):
    iot = iot_client(billing_server)
    prefix = unique("page")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for name in names:
        iot.create_billing_group(billingGroupName=name)
    seen, token = [], None
    while True:
        page = iot.list_billing_groups(namePrefixFilter=prefix, maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["billingGroups"]) <= 2
        seen += [g["groupName"] for g in page["billingGroups"]]
        assert all(g["groupArn"] == f"{ARN}:billinggroup/{g['groupName']}" for g in page["billingGroups"])
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    paginated = [g["groupName"] for p in iot.get_paginator("list_billing_groups").paginate(namePrefixFilter=prefix, PaginationConfig={"PageSize": 3})
                 for g in p["billingGroups"]]
    assert paginated == names
    assert aws_error(lambda: iot.list_billing_groups(maxResults=251)) == ("InvalidRequestException", 400)


def test_things_join_one_billing_group(billing_server):
    iot = iot_client(billing_server)
    first, second = unique("first"), unique("second")
    iot.create_billing_group(billingGroupName=first)
    iot.create_billing_group(billingGroupName=second)
    thing = unique("meter")
    iot.create_thing(thingName=thing, billingGroupName=first)
    assert iot.describe_thing(thingName=thing)["billingGroupName"] == first
    assert iot.list_things_in_billing_group(billingGroupName=first)["things"] == [thing]
    version = iot.describe_thing(thingName=thing)["version"]
    # By ARN; a thing is in one billing group at most, so it moves.
    iot.add_thing_to_billing_group(billingGroupArn=f"{ARN}:billinggroup/{second}", thingArn=f"{ARN}:thing/{thing}")
    assert iot.describe_thing(thingName=thing)["billingGroupName"] == second
    assert iot.describe_thing(thingName=thing)["version"] == version, "joining is not an update of the thing"
    assert iot.list_things_in_billing_group(billingGroupName=first)["things"] == []
    assert iot.list_things_in_billing_group(billingGroupName=second)["things"] == [thing]
    iot.remove_thing_from_billing_group(billingGroupName=second, thingName=thing)
    assert "billingGroupName" not in iot.describe_thing(thingName=thing)
    assert aws_error(lambda: iot.create_thing(thingName=unique("t"), billingGroupName=unique("missing"))) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.add_thing_to_billing_group(billingGroupName=first, thingName=unique("missing"))) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.add_thing_to_billing_group(billingGroupName=first)) == ("InvalidRequestException", 400)
    # A deleted thing leaves its group; a deleted group lets its things go.
    iot.add_thing_to_billing_group(billingGroupName=first, thingName=thing)
    other = unique("other")
    iot.create_thing(thingName=other, billingGroupName=first)
    iot.delete_thing(thingName=thing)
    assert iot.list_things_in_billing_group(billingGroupName=first)["things"] == [other]
    iot.delete_billing_group(billingGroupName=first)
    assert "billingGroupName" not in iot.describe_thing(thingName=other)


def test_billing_groups_stay_in_their_region_and_survive_a_restart(billing_server):
    name = unique("regional")
    ireland = iot_client(billing_server, region="eu-west-1")
    made = ireland.create_billing_group(billingGroupName=name)
    assert made["billingGroupArn"] == f"arn:aws:iot:eu-west-1:123456789012:billinggroup/{name}"
    assert aws_error(lambda: iot_client(billing_server).describe_billing_group(billingGroupName=name)) == ("ResourceNotFoundException", 404)
    thing = unique("kept")
    ireland.create_thing(thingName=thing, billingGroupName=name)
    billing_server.stop()
    billing_server.start()
    ireland = iot_client(billing_server, region="eu-west-1")
    assert ireland.describe_billing_group(billingGroupName=name)["billingGroupId"] == made["billingGroupId"]
    assert ireland.describe_thing(thingName=thing)["billingGroupName"] == name
