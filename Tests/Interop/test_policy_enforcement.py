"""IoT policies enforced on real clients (issue 5): Connect, Publish, RetainPublish, Subscribe and Receive in
MQTT 5 and 3.1.1 with paho-mqtt and the mosquitto clients, AWS's reason codes, AUTHORIZATION_FAILURE log
entries that explain the decision, and changes (a new default version, a detach, a thing attribute) applied to
live connections within a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from interop_support import V311, V5, Device, admin_keys, endpoint, iot_client, send_request, unique

ARN = "arn:aws:iot:us-east-1:123456789012"
NOT_AUTHORIZED = 0x87


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def make_policy(iot, statements: list[dict], name: str | None = None) -> str:
    name = name or unique("enf")
    iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return name


def set_default(iot, name: str, statements: list[dict]) -> None:
    """CreatePolicyVersion with setAsDefault (the oldest non-default version goes when five exist)."""
    versions = iot.list_policy_versions(policyName=name)["policyVersions"]
    if len(versions) >= 5:
        oldest = sorted((v for v in versions if not v["isDefaultVersion"]), key=lambda v: int(v["versionId"]))[0]
        iot.delete_policy_version(policyName=name, policyVersionId=oldest["versionId"])
    iot.create_policy_version(policyName=name, setAsDefault=True,
                              policyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def make_device(server, iot, tmp_path: Path, policy: str | None, thing: str | None = None,
                attributes: dict | None = None) -> Device:
    """The getting-started flow: a certificate (CreateKeysAndCertificate), optionally a thing it is attached
    to, and a policy attached to it."""
    created = iot.create_keys_and_certificate(setAsActive=True)
    name = thing or unique("dev")
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    os.chmod(key, 0o600)
    if thing:
        iot.create_thing(thingName=thing, attributePayload={"attributes": attributes or {}})
        iot.attach_thing_principal(thingName=thing, principal=created["certificateArn"])
    if policy:
        iot.attach_policy(policyName=policy, target=created["certificateArn"])
    device = Device(name, cert, key, server.ca_cert, created["certificateId"])
    device.arn = created["certificateArn"]
    return device


def scoped_statements() -> list[dict]:
    """AWS's documented pattern: the thing name as client id, topics under the thing's name."""
    thing = "${iot:Connection.Thing.ThingName}"
    return [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/{thing}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"], "Resource": f"{ARN}:topic/{thing}/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ARN}:topicfilter/{thing}/*"},
    ]


@pytest.mark.parametrize("version", [V5, V311])
def test_connect_is_denied_for_another_client_id_with_the_right_code(server, iot, paho, tmp_path, version):
    thing = unique("lamp")
    device = make_device(server, iot, tmp_path, make_policy(iot, scoped_statements()), thing=thing)
    mark = server.log_mark()
    refused = paho("x", version, connect=False, dev=device, client_id=unique("impostor"))
    assert refused.try_connect() is False
    # MQTT 5: CONNACK 0x87 Not authorized; 3.1.1: return code 5 (paho reports it as reason 135 too).
    assert refused.connack_reason in (NOT_AUTHORIZED, 5)
    entry = server.wait_log(mark, eventType="Connect", status="Failure", reason="AUTHORIZATION_FAILURE")
    assert f"{ARN}:client/{refused.client_id}" in entry["details"]
    assert "iot:Connection.Thing.ThingName" in entry["details"]
    assert paho("ok", version, dev=device, client_id=thing).connected_ok


@pytest.mark.parametrize("version", [V5, V311])
def test_subscribe_is_decided_per_filter(server, iot, paho, tmp_path, version):
    thing = unique("sub")
    device = make_device(server, iot, tmp_path, make_policy(iot, scoped_statements()), thing=thing)
    client = paho("s", version, dev=device, client_id=thing)
    mark = server.log_mark()
    codes = client.subscribe([f"{thing}/#", "someone-else/#"])
    assert codes == [1, NOT_AUTHORIZED if version == V5 else 0x80]
    entry = server.wait_log(mark, eventType="Subscribe", status="Failure", reason="AUTHORIZATION_FAILURE")
    assert entry["topicName"] == "someone-else/#" and f"{ARN}:topicfilter/someone-else/#" in entry["details"]
    assert client.connected_ok


def test_a_denied_publish_gets_puback_0x87_in_mqtt5_and_qos0_is_dropped(server, iot, paho, tmp_path):
    thing = unique("pub")
    device = make_device(server, iot, tmp_path, make_policy(iot, scoped_statements()), thing=thing)
    watcher = paho("w", V5)  # the shared allow-all device
    watcher.subscribe("#")
    client = paho("p", V5, dev=device, client_id=thing)
    mark = server.log_mark()
    assert client.publish("forbidden/topic", "x", qos=1) == NOT_AUTHORIZED
    entry = server.wait_log(mark, eventType="Publish-In", status="Failure", reason="AUTHORIZATION_FAILURE")
    assert f"{ARN}:topic/forbidden/topic" in entry["details"]
    client.publish("forbidden/topic", "quiet", qos=0)
    assert client.publish(f"{thing}/ok", "fine", qos=1) == 0
    watcher.wait_message(f"{thing}/ok")
    assert not watcher.received("forbidden/topic")
    assert client.connected_ok
    # Retained needs RetainPublish as well as Publish.
    no_retain = make_policy(iot, [{"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"}])
    plain = paho("r", V5, dev=make_device(server, iot, tmp_path, no_retain))
    assert plain.publish(unique("t"), "x", qos=1, retain=True) == NOT_AUTHORIZED
    assert plain.publish(unique("t"), "x", qos=1) == 0


def test_a_denied_publish_closes_an_mqtt311_connection(server, iot, paho, tmp_path):
    thing = unique("v3pub")
    device = make_device(server, iot, tmp_path, make_policy(iot, scoped_statements()), thing=thing)
    client = paho("p", V311, dev=device, client_id=thing)
    mark = server.log_mark()
    client.publish("forbidden/topic", "x", qos=1, wait=False)
    assert client.wait_disconnected() is not None
    server.wait_log(mark, eventType="Publish-In", status="Failure", reason="AUTHORIZATION_FAILURE")
    server.wait_log(mark, eventType="Disconnect", clientId=thing, disconnectReason="AUTH_ERROR")


@pytest.mark.parametrize("version", [V5, V311])
def test_receive_is_checked_on_every_delivery_including_retained(server, iot, paho, tmp_path, version):
    # May subscribe to anything, receive only under public/.
    picky = make_policy(iot, [
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Subscribe"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{ARN}:topic/public/*"},
    ])
    base = unique("rx")
    publisher = paho("pub", V5)
    publisher.publish(f"public/{base}/retained", "kept", qos=1, retain=True)
    publisher.publish(f"private/{base}/retained", "hidden", qos=1, retain=True)
    client = paho("c", version, dev=make_device(server, iot, tmp_path, picky))
    client.subscribe([f"public/{base}/retained", f"private/{base}/retained", f"+/{base}/live"])
    assert client.wait_message(f"public/{base}/retained").payload == b"kept"
    mark = server.log_mark()
    publisher.publish(f"private/{base}/live", "secret", qos=1)
    publisher.publish(f"public/{base}/live", "news", qos=1)
    assert client.wait_message(f"public/{base}/live").payload == b"news"
    entry = server.wait_log(mark, eventType="Publish-Out", status="Failure", reason="AUTHORIZATION_FAILURE")
    assert entry["topicName"] == f"private/{base}/live"
    assert not client.received(f"private/{base}/retained") and not client.received(f"private/{base}/live")
    assert client.connected_ok


def test_mosquitto_clients_see_the_denials(server, iot, tmp_path):
    thing = unique("mosq")
    device = make_device(server, iot, tmp_path, make_policy(iot, scoped_statements()), thing=thing)
    tls = ["--cafile", str(server.ca_cert), "--cert", str(device.cert), "--key", str(device.key)]
    base = ["-h", "localhost", "-p", str(server.port)]
    ok = subprocess.run(["mosquitto_pub", *base, "-V", "mqttv311", "-i", thing, "-t", f"{thing}/hello", "-m", "hi", "-q", "1", *tls],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    # Another client id: CONNACK refused.
    refused = subprocess.run(["mosquitto_pub", *base, "-V", "mqttv5", "-i", unique("other"), "-t", f"{thing}/hello", "-m", "hi", *tls],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "not authorized" in (refused.stderr + refused.stdout).lower()
    # A subscription to someone else's topics: mosquitto_sub reports the denied SUBACK and gives up.
    denied = subprocess.run(["mosquitto_sub", *base, "-V", "mqttv5", "-i", thing, "-t", "other/#", "-W", "5", *tls],
                            capture_output=True, text=True, timeout=30)
    assert "all subscription requests were denied" in (denied.stderr + denied.stdout).lower()
    # A publish to someone else's topic: MQTT 5 PUBACK 0x87, which mosquitto_pub reports.
    refused_publish = subprocess.run(["mosquitto_pub", *base, "-V", "mqttv5", "-i", thing, "-t", "other/topic", "-m", "hi", "-q", "1", *tls],
                                     capture_output=True, text=True, timeout=30)
    assert "not authorized" in (refused_publish.stderr + refused_publish.stdout).lower(), refused_publish


def test_a_new_default_version_applies_to_live_connections_within_a_second(server, iot, paho, tmp_path):
    name = make_policy(iot, [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}])
    device = make_device(server, iot, tmp_path, name)
    base = unique("live")
    v5 = paho("v5", V5, dev=device)
    v3 = paho("v3", V311, dev=device)
    for client in (v5, v3):
        assert client.subscribe([f"{base}/news/#", f"{base}/alerts/#"]) == [1, 1]
    publisher = paho("pub", V5)
    publisher.publish(f"{base}/news/1", "one", qos=1)
    v5.wait_message(f"{base}/news/1")
    v3.wait_message(f"{base}/news/1")

    # Receive denied on news: it stops at once for these clients, alerts keep flowing.
    set_default(iot, name, [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"},
                            {"Effect": "Deny", "Action": "iot:Receive", "Resource": f"{ARN}:topic/{base}/news/*"}])
    publisher.publish(f"{base}/news/2", "two", qos=1)
    publisher.publish(f"{base}/alerts/1", "fire", qos=1)
    for client in (v5, v3):
        client.wait_message(f"{base}/alerts/1")
        assert not client.received(f"{base}/news/2")

    # Connect no longer allowed: MQTT 5 hears DISCONNECT 0x87, 3.1.1 is closed, both within a second.
    started = time.monotonic()
    set_default(iot, name, [{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}])
    assert v5.disconnect_reason(timeout=1.0) == NOT_AUTHORIZED
    assert v3.wait_disconnected(timeout=1.0) is not None
    assert time.monotonic() - started < 1.5
    assert publisher.connected_ok


def test_detach_and_thing_changes_apply_to_live_connections(server, iot, paho, tmp_path):
    floor_policy = make_policy(iot, [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
         "Condition": {"StringEquals": {"iot:Connection.Thing.Attributes[floor]": "3"}}},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/floor/${{iot:Connection.Thing.Attributes[floor]}}/*"},
    ])
    thing = unique("sensor")
    device = make_device(server, iot, tmp_path, floor_policy, thing=thing, attributes={"floor": "3"})
    client = paho("s", V5, dev=device, client_id=thing)
    assert client.publish("floor/3/t", "21", qos=1) == 0
    assert client.publish("floor/4/t", "21", qos=1) == NOT_AUTHORIZED
    iot.update_thing(thingName=thing, attributePayload={"attributes": {"floor": "4"}, "merge": True})
    assert client.disconnect_reason(timeout=1.0) == NOT_AUTHORIZED

    iot.update_thing(thingName=thing, attributePayload={"attributes": {"floor": "3"}, "merge": True})
    again = paho("s2", V311, dev=device, client_id=thing)
    iot.detach_policy(policyName=floor_policy, target=device.arn)
    assert again.wait_disconnected(timeout=1.0) is not None
    assert paho("s3", V5, connect=False, dev=device, client_id=thing).try_connect() is False


def test_thing_group_policies_apply_only_with_the_thing_name_as_client_id(server, iot, paho, tmp_path):
    group_policy = make_policy(iot, [{"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"}])
    parent, child = unique("site"), unique("floor")
    parent_arn = iot.create_thing_group(thingGroupName=parent)["thingGroupArn"]
    iot.create_thing_group(thingGroupName=child, parentGroupName=parent)
    iot.attach_policy(policyName=group_policy, target=parent_arn)
    thing = unique("member")
    device = make_device(server, iot, tmp_path, None, thing=thing)
    assert paho("m0", V5, connect=False, dev=device, client_id=thing).try_connect() is False
    iot.add_thing_to_thing_group(thingGroupName=child, thingName=thing)
    assert paho("m1", V5, connect=False, dev=device, client_id=unique("not-the-thing")).try_connect() is False
    member = paho("m2", V5, dev=device, client_id=thing)
    assert member.publish(unique("any"), "x", qos=1) == 0
    iot.remove_thing_from_thing_group(thingGroupName=child, thingName=thing)
    assert member.disconnect_reason(timeout=1.0) == NOT_AUTHORIZED


def test_test_authorization_explains_each_decision(server, iot, tmp_path):
    name = make_policy(iot, [{"Sid": "OwnTopics", "Effect": "Allow", "Action": "iot:Publish",
                              "Resource": f"{ARN}:topic/${{iot:Connection.Thing.ThingName}}/*"},
                             {"Sid": "NoSecrets", "Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/*/secret"}])
    thing = unique("explained")
    device = make_device(server, iot, tmp_path, name, thing=thing)
    body = json.dumps({"principal": device.arn, "authInfos": [
        {"actionType": "PUBLISH", "resources": [f"{ARN}:topic/{thing}/state"]},
        {"actionType": "PUBLISH", "resources": [f"{ARN}:topic/{thing}/secret"]},
        {"actionType": "PUBLISH", "resources": [f"{ARN}:topic/elsewhere"]},
    ]})
    request = AWSRequest(method="POST", url=endpoint(server) + f"/test-authorization?clientId={thing}", data=body,
                         headers={"Content-Type": "application/json"})
    key, secret = admin_keys(server)
    SigV4Auth(Credentials(key, secret), "iot", "us-east-1").add_auth(request)
    status, _, answer = send_request(server, request)
    assert status == 200, answer
    results = answer["authResults"]
    assert [r["authDecision"] for r in results] == ["ALLOWED", "EXPLICIT_DENY", "IMPLICIT_DENY"]
    allowed, denied, implicit = (r["portcullisExplanations"][0]["explanation"] for r in results)
    assert f"policy {name} version 1 Statement[0] (Sid OwnTopics)" in allowed
    assert f"iot:Connection.Thing.ThingName={thing}" in allowed
    assert "explicitly denied by" in denied and "(Sid NoSecrets)" in denied
    assert "no statement" in implicit and f"{ARN}:topic/elsewhere" in implicit


def test_policy_cli_lints_tests_offline_and_creates(server, iot, paho, tmp_path):
    cli = [str(server.binary), "policy"]
    good, bad = tmp_path / "lamp.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"Version": "2012-10-17", "Statement": scoped_statements()}))
    bad.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Publish"}]}))
    linted = subprocess.run(cli + ["lint", str(good), str(bad)], capture_output=True, text=True, timeout=30)
    assert linted.returncode == 1
    assert f"{good}: ok (3 statements)" in linted.stdout
    assert f"{bad}: MalformedPolicyException: Statement[0]" in linted.stdout

    def decide(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli + ["test", str(good), *args], capture_output=True, text=True, timeout=30)

    allowed = decide("--action", "iot:Publish", "--resource", "lamp/state", "--context", "iot:Connection.Thing.ThingName=lamp")
    assert allowed.returncode == 0 and allowed.stdout.startswith("ALLOWED")
    assert "policy lamp Statement[1] with iot:Connection.Thing.ThingName=lamp" in allowed.stdout
    denied = decide("--action", "iot:Connect", "--resource", "lamp", "--client-id", "lamp")
    assert denied.returncode == 2 and denied.stdout.startswith("IMPLICIT_DENY")
    assert "missing context values: iot:Connection.Thing.ThingName" in denied.stdout
    assert decide("--action", "iot:Nothing", "--resource", "x").returncode not in (0, 2)
    bad_context = decide("--action", "iot:Publish", "--resource", "x", "--context", "no-equals-sign")
    assert bad_context.returncode not in (0, 2) and "KEY=VALUE" in bad_context.stderr

    # device mint refuses a policy that does not exist before it writes or registers anything.
    before = len(iot.list_certificates(pageSize=250)["certificates"])
    out = tmp_path / "minted"
    minted = subprocess.run([str(server.binary), "device", "mint", unique("m"), "--policy", "no-such-policy", "--out", str(out),
                             "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert minted.returncode == 1 and "ResourceNotFoundException" in minted.stderr
    assert not out.exists() or not any(out.iterdir())
    assert len(iot.list_certificates(pageSize=250)["certificates"]) == before

    # create: through the API, then usable by AttachPolicy; --set-default adds a version.
    name = unique("cli-policy")
    created = subprocess.run(cli + ["create", name, str(good), "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert created.returncode == 0 and f"policy {name} version 1" in created.stdout, created.stderr
    again = subprocess.run(cli + ["create", name, str(good), "--set-default", "--data-dir", str(server.data_dir)],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and f"policy {name} version 2" in again.stdout, again.stderr
    assert iot.get_policy(policyName=name)["defaultVersionId"] == "2"
    refused = subprocess.run(cli + ["create", unique("cli-bad"), str(bad), "--data-dir", str(server.data_dir)],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "MalformedPolicyException" in refused.stderr


def test_iot_domain_name_is_the_sni_host_name(server, iot, paho, tmp_path):
    by_domain = make_policy(iot, [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": {"StringEquals": {"iot:DomainName": "localhost"}}},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/${{iot:DomainName}}/*"},
    ])
    device = make_device(server, iot, tmp_path, by_domain)
    client = paho("sni", V5, dev=device)  # connects to "localhost", which Python's ssl sends as SNI
    assert client.publish("localhost/hello", "x", qos=1) == 0
    assert client.publish("elsewhere/hello", "x", qos=1) == NOT_AUTHORIZED
    set_default(iot, by_domain, [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
                                  "Condition": {"StringEquals": {"iot:DomainName": "iot.example.com"}}}])
    assert client.disconnect_reason(timeout=1.0) == NOT_AUTHORIZED
