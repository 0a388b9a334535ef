"""Data-plane access keys authorized by IoT policies: a key made with `portcullis access-key create` is used by
boto3's iot-data client and awscli; each call is allowed or refused (403 ForbiddenException with the engine's
explanation) by the key's policies, it can never call the control plane, and deleting it or its policy
change takes effect on the next request."""

from __future__ import annotations

import json
import subprocess

import boto3
import botocore.config
import pytest

from interop_support import V5, aws_error, endpoint, iot_client, unique


def make_key(server, *policies: str) -> tuple[str, str]:
    cmd = [str(server.binary), "access-key", "create", "--data-dir", str(server.data_dir), "--description", "interop"]
    for policy in policies:
        cmd += ["--policy", policy]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)
    return lines["aws_access_key_id"], lines["aws_secret_access_key"]


def data_client(server, key: str, secret: str):
    return boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def scoped(server):
    """A key whose policy allows publishing under sensors/, retaining only under sensors/retained/, reading
    those retained messages, and managing the connections of client ids starting with ops-."""
    name = unique("data-plane-policy")
    iot_client(server).create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/sensors/*"},
        {"Effect": "Allow", "Action": ["iot:RetainPublish", "iot:GetRetainedMessage"],
         "Resource": "arn:aws:iot:us-east-1:123456789012:topic/sensors/retained/*"},
        {"Effect": "Allow", "Action": ["iot:GetConnection", "iot:DeleteConnection", "iot:ListSubscriptions"],
         "Resource": "arn:aws:iot:us-east-1:123456789012:client/ops-*"},
        {"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/sensors/secret"},
    ]}))
    key, secret = make_key(server, name)
    return data_client(server, key, secret), key, secret, name


def test_calls_are_authorized_by_the_keys_policies(server, scoped, paho):
    data, key, _, policy = scoped
    sub = paho(unique("dp-sub"), V5)
    sub.subscribe("sensors/#", 1)
    assert data.publish(topic="sensors/temp", qos=1, payload=b"21")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sub.wait_message("sensors/temp").payload == b"21"
    assert aws_error(lambda: data.publish(topic="actuators/valve", payload=b"open")) == ("ForbiddenException", 403)
    assert aws_error(lambda: data.publish(topic="sensors/secret", payload=b"x")) == ("ForbiddenException", 403), "explicit Deny wins"
    assert aws_error(lambda: data.publish(topic="sensors/temp", retain=True, payload=b"x")) == ("ForbiddenException", 403), \
        "retaining needs iot:RetainPublish"
    data.publish(topic="sensors/retained/level", retain=True, payload=b"7")
    assert data.get_retained_message(topic="sensors/retained/level")["payload"] == b"7"
    assert aws_error(lambda: data.list_retained_messages()) == ("ForbiddenException", 403), "no iot:ListRetainedMessages"

    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as refused:
        data.publish(topic="actuators/valve", payload=b"open")
    message = refused.value.response["Error"]["Message"]
    assert "iot:Publish" in message and "actuators/valve" in message, message

    ops_id, other_id = unique("ops-dev"), unique("other-dev")
    ops = paho(ops_id, V5, client_id=ops_id)
    paho(other_id, V5, client_id=other_id)
    assert aws_error(lambda: data.delete_connection(clientId=other_id)) == ("ForbiddenException", 403)
    data.delete_connection(clientId=ops_id)
    assert ops.disconnect_reason() == 0x98


def test_a_data_plane_key_cannot_call_the_control_plane(server, scoped):
    _, key, secret, _ = scoped
    iot = iot_client(server, key=key, secret=secret)
    assert aws_error(lambda: iot.list_things()) == ("AccessDeniedException", 403)
    assert aws_error(lambda: iot.create_policy(policyName="sneaky", policyDocument='{"Version":"2012-10-17","Statement":[]}')) \
        == ("AccessDeniedException", 403)
    acm = boto3.client("acm", region_name="us-east-1", endpoint_url=endpoint(server), verify=str(server.ca_cert),
                       aws_access_key_id=key, aws_secret_access_key=secret, config=botocore.config.Config(retries={"max_attempts": 1}))
    assert aws_error(lambda: acm.list_certificates())[0] == "AccessDeniedException", "nor ACM"


def test_deleting_the_key_or_its_policy_change_takes_effect_at_once(server):
    iot = iot_client(server)
    name = unique("dp-change")
    iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}]}))
    key, secret = make_key(server, name)
    data = data_client(server, key, secret)
    data.publish(topic="anything/at/all", payload=b"ok")
    assert aws_error(lambda: iot.delete_policy(policyName=name)) == ("DeleteConflictException", 409), "attached to a key"
    iot.create_policy_version(policyName=name, setAsDefault=True, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/only/this"}]}))
    assert aws_error(lambda: data.publish(topic="anything/at/all", payload=b"no")) == ("ForbiddenException", 403)
    data.publish(topic="only/this", payload=b"ok")
    listed = subprocess.run([str(server.binary), "access-key", "list", "--data-dir", str(server.data_dir)], capture_output=True, text=True,
                            timeout=30)
    assert key in listed.stdout and secret not in listed.stdout, "listing never shows a secret"
    deleted = subprocess.run([str(server.binary), "access-key", "delete", key, "--data-dir", str(server.data_dir)], capture_output=True,
                             text=True, timeout=30)
    assert deleted.returncode == 0, deleted.stderr
    code, status = aws_error(lambda: data.publish(topic="only/this", payload=b"gone"))
    assert status == 403 and code in ("UnrecognizedClientException", "InvalidSignatureException", "ForbiddenException"), code


def test_creating_a_key_with_a_missing_policy_is_refused(server):
    result = subprocess.run([str(server.binary), "access-key", "create", "--policy", unique("no-such-policy"), "--data-dir",
                             str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "ResourceNotFoundException" in result.stderr + result.stdout
    none = subprocess.run([str(server.binary), "access-key", "create", "--data-dir", str(server.data_dir)], capture_output=True,
                          text=True, timeout=30)
    assert none.returncode != 0 and "at least one" in none.stderr
