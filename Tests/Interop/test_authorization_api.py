"""TestAuthorization and GetEffectivePolicies with boto3 (reference 3.5 to 3.7): the policy engine's decision for
a certificate, with thing variables, thing-group policies (only when the client id is the thing's name), explicit
deny, and the missing context values; the policy sets it reports.
"""

from __future__ import annotations

import json

import pytest

from interop_support import aws_error as error_of, iot_client, unique

ARN = "arn:aws:iot:us-east-1:123456789012"


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def policy(iot, statements: list[dict]) -> str:
    name = unique("authz")
    iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return name


def test_decisions_with_thing_variables_groups_and_denies(iot):
    thing, group = unique("lamp"), unique("floor")
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"room": "kitchen"}})
    group_arn = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    certificate = iot.create_keys_and_certificate(setAsActive=True)
    arn = certificate["certificateArn"]
    iot.attach_thing_principal(thingName=thing, principal=arn)
    own = policy(iot, [{"Effect": "Allow", "Action": "iot:Publish",
                        "Resource": f"{ARN}:topic/${{iot:Connection.Thing.ThingName}}/*"}])
    iot.attach_policy(policyName=own, target=arn)
    shared = policy(iot, [{"Effect": "Allow", "Action": "iot:Subscribe",
                           "Resource": f"{ARN}:topicfilter/rooms/${{iot:Connection.Thing.Attributes[room]}}/*"}])
    iot.attach_policy(policyName=shared, target=group_arn)

    def decide(client_id, action, resource, **extra):
        result = iot.test_authorization(principal=arn, clientId=client_id,
                                        authInfos=[{"actionType": action, "resources": [resource]}], **extra)["authResults"][0]
        return result

    allowed = decide(thing, "PUBLISH", f"{ARN}:topic/{thing}/state")
    assert allowed["authDecision"] == "ALLOWED" and allowed["allowed"]["policies"] == [{"policyName": own, "policyArn": f"{ARN}:policy/{own}"}]
    other = decide(thing, "PUBLISH", f"{ARN}:topic/someone-else/state")
    assert other["authDecision"] == "IMPLICIT_DENY"
    assert sorted(p["policyName"] for p in other["denied"]["implicitDeny"]["policies"]) == sorted([own, shared])
    # The group's policy applies only when the client id is the thing's name.
    assert decide(thing, "SUBSCRIBE", f"{ARN}:topicfilter/rooms/kitchen/#")["authDecision"] == "ALLOWED"
    stranger = decide("not-the-thing", "SUBSCRIBE", f"{ARN}:topicfilter/rooms/kitchen/#")
    assert stranger["authDecision"] == "IMPLICIT_DENY"
    unresolved = decide("not-the-thing", "PUBLISH", f"{ARN}:topic/{thing}/state")
    assert unresolved["authDecision"] == "IMPLICIT_DENY" and "iot:Connection.Thing.ThingName" in unresolved["missingContextValues"]
    # An explicit deny added for the test wins; skipping the allowing policy denies implicitly.
    deny = policy(iot, [{"Effect": "Deny", "Action": "iot:*", "Resource": f"{ARN}:topic/{thing}/*"}])
    denied = decide(thing, "PUBLISH", f"{ARN}:topic/{thing}/state", policyNamesToAdd=[deny])
    assert denied["authDecision"] == "EXPLICIT_DENY" and [p["policyName"] for p in denied["denied"]["explicitDeny"]["policies"]] == [deny]
    assert decide(thing, "PUBLISH", f"{ARN}:topic/{thing}/state", policyNamesToSkip=[own])["authDecision"] == "IMPLICIT_DENY"

    effective = iot.get_effective_policies(principal=arn, thingName=thing)["effectivePolicies"]
    assert sorted(p["policyName"] for p in effective) == sorted([own, shared])
    assert [p["policyName"] for p in iot.get_effective_policies(principal=arn)["effectivePolicies"]] == [own]


def test_certificate_variables_and_refusals(iot):
    certificate = iot.create_keys_and_certificate(setAsActive=True)
    arn = certificate["certificateArn"]
    name = policy(iot, [{"Effect": "Allow", "Action": "iot:Connect",
                         "Resource": f"{ARN}:client/${{iot:Certificate.Subject.CommonName}}-*"}])
    iot.attach_policy(policyName=name, target=arn)
    # CreateKeysAndCertificate certificates are issued to "AWS IoT Certificate", as AWS's are.
    result = iot.test_authorization(principal=arn, authInfos=[{"actionType": "CONNECT", "resources": [f"{ARN}:client/AWS IoT Certificate-1"]}])
    assert result["authResults"][0]["authDecision"] == "ALLOWED"
    assert error_of(lambda: iot.test_authorization(principal=arn, authInfos=[{"actionType": "DELETE", "resources": ["*"]}])) \
        == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.test_authorization(principal=f"{ARN}:cert/{'0' * 64}", authInfos=[{"actionType": "CONNECT", "resources": ["*"]}])) \
        == ("ResourceNotFoundException", 404)
    assert error_of(lambda: iot.test_authorization(principal=arn, authInfos=[{"actionType": "CONNECT", "resources": ["*"]}],
                                                   policyNamesToAdd=[unique("missing")])) == ("ResourceNotFoundException", 404)
