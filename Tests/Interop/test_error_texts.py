"""Error types and texts where AWS's are known (issue 17): scripts written against AWS sometimes match on
the message, so where AWS's wording is established (real awscli/boto3 output), the gateway uses it,
typos included."""

from __future__ import annotations

import json

import pytest

from interop_support import Server, aws_error_message, iot_client, unique

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})


@pytest.fixture(scope="module")
def iot(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("errors")).start()
    yield iot_client(srv, region="sa-east-1")
    srv.stop()


def test_things_and_types(iot):
    thing = unique("t")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"a": "1"}})
    assert aws_error_message(lambda: iot.create_thing(thingName=thing, attributePayload={"attributes": {"a": "2"}})) == \
        ("ResourceAlreadyExistsException", f"Thing {thing} already exists in account with different attributes")
    assert aws_error_message(lambda: iot.update_thing(thingName=thing, expectedVersion=7, attributePayload={"attributes": {"b": "1"}})) == \
        ("VersionConflictException", f"The version for thing {thing} does not match the expected version.")
    missing = unique("missing")
    assert aws_error_message(lambda: iot.list_thing_principals(thingName=missing)) == \
        ("ResourceNotFoundException", f"Failed to list principals for thing {missing} because the thing does not exist in your account")
    kind = unique("old")
    iot.create_thing_type(thingTypeName=kind)
    iot.deprecate_thing_type(thingTypeName=kind)
    assert aws_error_message(lambda: iot.create_thing(thingName=unique("n"), thingTypeName=kind)) == \
        ("InvalidRequestException", f"Can not create new thing with depreated thing type:{kind}")
    assert aws_error_message(lambda: iot.update_thing(thingName=thing, thingTypeName=kind)) == \
        ("InvalidRequestException", f"Can not update a thing to use deprecated thing type: {kind}")


def test_thing_groups(iot):
    parent, child = unique("p"), unique("c")
    iot.create_thing_group(thingGroupName=parent, thingGroupProperties={"thingGroupDescription": "one"})
    assert aws_error_message(lambda: iot.create_thing_group(thingGroupName=parent, thingGroupProperties={"thingGroupDescription": "two"})) == \
        ("ResourceAlreadyExistsException", f"Thing Group {parent} already exists in current account with different properties")
    iot.create_thing_group(thingGroupName=child, parentGroupName=parent)
    assert aws_error_message(lambda: iot.delete_thing_group(thingGroupName=parent)) == \
        ("InvalidRequestException", f"Cannot delete thing group : {parent} when there are still child groups attached to it")
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY"})
    dynamic = unique("d")
    arn = iot.create_dynamic_thing_group(thingGroupName=dynamic, queryString="thingName:x*")["thingGroupArn"]
    assert aws_error_message(lambda: iot.delete_thing_group(thingGroupName=dynamic)) == \
        ("InvalidRequestException", f"This operation does not support dynamic thing groups. Thing group arn: {arn}")
    iot.delete_dynamic_thing_group(thingGroupName=dynamic)


def test_certificates_and_policies(iot):
    cert = iot.create_keys_and_certificate(setAsActive=True)
    assert aws_error_message(lambda: iot.delete_certificate(certificateId=cert["certificateId"])) == \
        ("CertificateStateException", f"Certificate must be deactivated (not ACTIVE) before deletion. Id: {cert['certificateId']}")
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    thing = unique("t")
    iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    assert aws_error_message(lambda: iot.delete_certificate(certificateId=cert["certificateId"])) == \
        ("DeleteConflictException", f"Things must be detached before deletion (arn: {cert['certificateArn']})")
    iot.detach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    name = unique("p")
    iot.create_policy(policyName=name, policyDocument=POLICY)
    iot.attach_policy(policyName=name, target=cert["certificateArn"])
    assert aws_error_message(lambda: iot.delete_certificate(certificateId=cert["certificateId"])) == \
        ("DeleteConflictException", f"Certificate policies must be detached before deletion (arn: {cert['certificateArn']})")
    assert aws_error_message(lambda: iot.register_certificate_without_ca(certificatePem=cert["certificatePem"])) == \
        ("ResourceAlreadyExistsException", "The certificate is already provisioned or registered")
    iot.create_policy_version(policyName=name, policyDocument=POLICY)
    iot.detach_policy(policyName=name, target=cert["certificateArn"])
    assert aws_error_message(lambda: iot.delete_policy(policyName=name))[0] == "DeleteConflictException"
    assert "versions other than than default version exist" in aws_error_message(lambda: iot.delete_policy(policyName=name))[1]
    group = iot.create_thing_group(thingGroupName=unique("g"))["thingGroupArn"]
    assert aws_error_message(lambda: iot.attach_principal_policy(policyName=name, principal=group)) == \
        ("InvalidRequestException", "The given ARN does not represent a cert")
    iot.attach_policy(policyName=name, target=group)


def test_an_index_that_is_off(iot, portcullis_bin, tmp_path):
    fresh = Server(portcullis_bin, tmp_path / "fresh").start()
    try:
        assert aws_error_message(lambda: iot_client(fresh).search_index(queryString="thingName:*")) == \
            ("ResourceNotFoundException", "Index AWS_Things does not exist. Please enable index by calling UpdateIndexingConfiguration")
    finally:
        fresh.stop()
