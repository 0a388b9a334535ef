"""Regions and accounts as isolated namespaces (issue 17): one gateway serves any (account, region); the
credential scope's region picks the namespace of an API call, the access key its account, and a device
reaches a region by the server name it connects to (`iot.<region>.localhost`). Nothing crosses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import botocore.config
import pytest

from interop_support import (MOSQUITTO_PUB, MOSQUITTO_SUB, Server, admin_keys, aws_error, endpoint, iot_client, unique,
                             wait_until)

SECOND_ACCOUNT = "210987654321"
SECOND_KEY = "AKIASECONDACCOUNT0001"
SECOND_SECRET = "second-account-secret-key-0000000000000"


@pytest.fixture(scope="module")
def gateway(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("namespaces"), config={"namespaces": {
        "accounts": [{"id": SECOND_ACCOUNT, "accessKeyID": SECOND_KEY, "secretAccessKey": SECOND_SECRET}]}}).start()
    yield srv
    srv.stop()


def data_client(server: Server, region: str, key: str | None = None, secret: str | None = None):
    default_key, default_secret = admin_keys(server)
    return boto3.client("iot-data", region_name=region, endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key or default_key, aws_secret_access_key=secret or default_secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})


def make_device(server: Server, region: str, name: str, workdir: Path, account_keys: tuple[str, str] | None = None) -> tuple[Path, Path, str]:
    """A certificate issued and activated in `region` through its API, with an allow-all policy there."""
    key, secret = account_keys or (None, None)
    iot = iot_client(server, key, secret, region=region)
    made = iot.create_keys_and_certificate(setAsActive=True)
    try:
        iot.create_policy(policyName="ns-allow-all", policyDocument=ALLOW_ALL)
    except iot.exceptions.ResourceAlreadyExistsException:
        pass
    iot.attach_policy(policyName="ns-allow-all", target=made["certificateArn"])
    cert = workdir / f"{name}.pem"
    private = workdir / f"{name}.key"
    cert.write_text(made["certificatePem"])
    private.write_text(made["keyPair"]["PrivateKey"])
    os.chmod(private, 0o600)
    return cert, private, made["certificateArn"]


def test_boto3_in_several_regions_sees_one_registry_per_region(gateway):
    tokyo, ireland = iot_client(gateway, region="ap-northeast-1"), iot_client(gateway, region="eu-west-1")
    name = unique("thing")
    made_tokyo = tokyo.create_thing(thingName=name, attributePayload={"attributes": {"city": "tokyo"}})
    made_ireland = ireland.create_thing(thingName=name, attributePayload={"attributes": {"city": "dublin"}})
    assert made_tokyo["thingArn"] == f"arn:aws:iot:ap-northeast-1:123456789012:thing/{name}"
    assert made_ireland["thingArn"] == f"arn:aws:iot:eu-west-1:123456789012:thing/{name}"
    assert tokyo.describe_thing(thingName=name)["attributes"] == {"city": "tokyo"}
    assert ireland.describe_thing(thingName=name)["attributes"] == {"city": "dublin"}
    only = unique("only-tokyo")
    tokyo.create_thing(thingName=only)
    assert only in [t["thingName"] for t in tokyo.list_things()["things"]]
    assert only not in [t["thingName"] for t in ireland.list_things()["things"]]
    assert aws_error(lambda: ireland.describe_thing(thingName=only)) == ("ResourceNotFoundException", 404)
    # The default region is a namespace like the others.
    assert aws_error(lambda: iot_client(gateway).describe_thing(thingName=name)) == ("ResourceNotFoundException", 404)
    policy = unique("policy")
    ireland.create_policy(policyName=policy, policyDocument=ALLOW_ALL)
    assert ireland.get_policy(policyName=policy)["policyArn"] == f"arn:aws:iot:eu-west-1:123456789012:policy/{policy}"
    assert aws_error(lambda: tokyo.get_policy(policyName=policy)) == ("ResourceNotFoundException", 404)


def test_one_certificate_registers_in_two_regions(gateway):
    tokyo, ireland = iot_client(gateway, region="ap-northeast-1"), iot_client(gateway, region="eu-west-1")
    made = tokyo.create_keys_and_certificate(setAsActive=True)
    again = ireland.register_certificate_without_ca(certificatePem=made["certificatePem"], status="ACTIVE")
    assert again["certificateId"] == made["certificateId"]
    assert again["certificateArn"] == f"arn:aws:iot:eu-west-1:123456789012:cert/{made['certificateId']}"
    # Each region has its own record: deactivating it in one leaves the other alone.
    ireland.update_certificate(certificateId=made["certificateId"], newStatus="INACTIVE")
    assert tokyo.describe_certificate(certificateId=made["certificateId"])["certificateDescription"]["status"] == "ACTIVE"


def test_describe_endpoint_answers_per_region(gateway):
    assert iot_client(gateway).describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == "localhost"
    assert iot_client(gateway, region="eu-west-1").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] \
        == "iot.eu-west-1.localhost"
    second = iot_client(gateway, SECOND_KEY, SECOND_SECRET, region="eu-west-1")
    assert second.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"] == f"{SECOND_ACCOUNT}-ats.iot.eu-west-1.localhost"


def test_a_region_name_that_is_not_one_is_refused(gateway):
    code, status = aws_error(lambda: iot_client(gateway, region="mars").list_things())
    assert (code, status) == ("InvalidSignatureException", 403)


def test_only_allowed_regions_are_served(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path / "allow-list", config={"namespaces": {"allowedRegions": ["us-east-1", "eu-west-1"]}}).start()
    try:
        assert iot_client(srv, region="eu-west-1").list_things()["things"] == []
        code, status = aws_error(lambda: iot_client(srv, region="ap-northeast-1").list_things())
        assert (code, status) == ("InvalidSignatureException", 403)
    finally:
        srv.stop()


def test_accounts_are_namespaces_too(gateway):
    mine, theirs = iot_client(gateway, region="eu-west-1"), iot_client(gateway, SECOND_KEY, SECOND_SECRET, region="eu-west-1")
    name = unique("acct")
    made = theirs.create_thing(thingName=name)
    assert made["thingArn"] == f"arn:aws:iot:eu-west-1:{SECOND_ACCOUNT}:thing/{name}"
    assert aws_error(lambda: mine.describe_thing(thingName=name)) == ("ResourceNotFoundException", 404)
    # A key that no account has is refused in AWS's words.
    code, _ = aws_error(lambda: iot_client(gateway, "AKIANOBODYHASTHISKEY", "x" * 40, region="eu-west-1").list_things())
    assert code in ("UnrecognizedClientException", "InvalidSignatureException")


def test_shadows_and_retained_messages_stay_in_their_region(gateway):
    thing = unique("shadowed")
    for region in ("eu-west-1", "ap-northeast-1"):
        iot_client(gateway, region=region).create_thing(thingName=thing)
    ireland, tokyo = data_client(gateway, "eu-west-1"), data_client(gateway, "ap-northeast-1")
    ireland.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"where": "dublin"}}}))
    got = json.loads(ireland.get_thing_shadow(thingName=thing)["payload"].read())
    assert got["state"]["reported"] == {"where": "dublin"}
    assert aws_error(lambda: tokyo.get_thing_shadow(thingName=thing)) == ("ResourceNotFoundException", 404)
    topic = f"retained/{unique('r')}"
    ireland.publish(topic=topic, qos=1, retain=True, payload=b"in ireland")
    assert ireland.get_retained_message(topic=topic)["payload"] == b"in ireland"
    assert aws_error(lambda: tokyo.get_retained_message(topic=topic)) == ("ResourceNotFoundException", 404)


def mosquitto(server: Server, host: str, cert: Path, key: Path) -> list[str]:
    return ["-h", host, "-p", str(server.port), "--cafile", str(server.ca_cert), "--cert", str(cert), "--key", str(key)]


def test_devices_reach_their_region_by_name_and_nothing_crosses(gateway, tmp_path):
    """mosquitto clients connect to iot.<region>.localhost with certificates registered there; the same
    client id and topic in two regions are two clients and two topics."""
    cert_ie, key_ie, _ = make_device(gateway, "eu-west-1", "ireland-device", tmp_path)
    cert_jp, key_jp, _ = make_device(gateway, "ap-northeast-1", "tokyo-device", tmp_path)
    topic = f"regions/{unique('t')}"
    client_id = unique("same-id")
    subs = {}
    for region, cert, key in (("eu-west-1", cert_ie, key_ie), ("ap-northeast-1", cert_jp, key_jp)):
        mark = gateway.log_mark()
        subs[region] = subprocess.Popen(
            [MOSQUITTO_SUB, *mosquitto(gateway, f"iot.{region}.localhost", cert, key), "-i", client_id, "-t", topic,
             "-q", "1", "-W", "10", "-C", "1", "-V", "mqttv311"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        gateway.wait_log(mark, eventType="Subscribe", status="Success", clientId=client_id, topicName=topic)
    try:
        # The same client id in both regions: neither took the other over.
        assert all(sub.poll() is None for sub in subs.values())
        sent = subprocess.run([MOSQUITTO_PUB, *mosquitto(gateway, "iot.eu-west-1.localhost", cert_ie, key_ie), "-i", unique("pub"),
                               "-t", topic, "-q", "1", "-m", "hello ireland"], capture_output=True, timeout=15)
        assert sent.returncode == 0, sent.stderr
        out, err = subs["eu-west-1"].communicate(timeout=15)
        assert out.decode().strip() == "hello ireland", err
        # Tokyo's subscriber heard nothing: it exits when -W runs out, with no message.
        out, _ = subs["ap-northeast-1"].communicate(timeout=15)
        assert out == b""
    finally:
        for sub in subs.values():
            if sub.poll() is None:
                sub.kill()
                sub.communicate(timeout=5)


def test_a_certificate_is_admitted_only_in_the_region_it_is_registered_in(gateway, tmp_path):
    cert, key, _ = make_device(gateway, "eu-west-1", "only-ireland", tmp_path)
    base = ["-i", unique("c"), "-t", "x/y", "-m", "m", "-q", "1", "-V", "mqttv311"]
    ok = subprocess.run([MOSQUITTO_PUB, *mosquitto(gateway, "iot.eu-west-1.localhost", cert, key), *base], capture_output=True, timeout=15)
    assert ok.returncode == 0, ok.stderr
    for host in ("iot.ap-northeast-1.localhost", "localhost"):
        refused = subprocess.run([MOSQUITTO_PUB, *mosquitto(gateway, host, cert, key), *base], capture_output=True, timeout=15)
        assert refused.returncode != 0, f"a certificate registered in eu-west-1 connected to {host}"
    # And a device of the default namespace is not admitted by a region's name.
    device = gateway.mint(unique("default-device"))
    refused = subprocess.run([MOSQUITTO_PUB, *mosquitto(gateway, "iot.eu-west-1.localhost", device.cert, device.key), *base],
                             capture_output=True, timeout=15)
    assert refused.returncode != 0


def test_lifecycle_events_stay_in_their_region(gateway, tmp_path):
    cert_ie, key_ie, _ = make_device(gateway, "eu-west-1", "lifecycle-ie", tmp_path)
    device = gateway.mint(unique("watcher"))
    mark = gateway.log_mark()
    watcher = subprocess.Popen([MOSQUITTO_SUB, "-h", "localhost", "-p", str(gateway.port), "--cafile", str(device.ca),
                                "--cert", str(device.cert), "--key", str(device.key), "-i", unique("w"),
                                "-t", "$aws/events/presence/connected/+", "-W", "4", "-V", "mqttv311"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    gateway.wait_log(mark, eventType="Subscribe", status="Success", topicName="$aws/events/presence/connected/+")
    connected_id = unique("ie-client")
    sent = subprocess.run([MOSQUITTO_PUB, *mosquitto(gateway, "iot.eu-west-1.localhost", cert_ie, key_ie), "-i", connected_id,
                           "-t", "a/b", "-m", "m", "-V", "mqttv311"], capture_output=True, timeout=15)
    assert sent.returncode == 0, sent.stderr
    out, _ = watcher.communicate(timeout=15)
    assert connected_id.encode() not in out, "a default-namespace subscriber saw eu-west-1's presence event"


def test_a_data_folder_from_the_previous_release_is_the_default_namespace(portcullis_bin, tmp_path):
    """The registry file the previous release wrote (migrations v1-v4), in a data folder whose PKI is made
    here: the new release serves all of it as the default namespace."""
    fixture = Path(__file__).parent / "fixtures" / "data-folder-before-namespaces" / "registry.sqlite"
    work = tmp_path / "upgraded"
    fresh = Server(portcullis_bin, work).start()  # makes the CA, server certificate and admin key
    fresh.stop()
    for stale in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"):
        (work / "data" / stale).unlink(missing_ok=True)
    shutil.copyfile(fixture, work / "data" / "registry.sqlite")
    srv = Server(portcullis_bin, work).start()
    try:
        iot = iot_client(srv)
        thing = iot.describe_thing(thingName="old-thing")
        assert thing["attributes"] == {"room": "a1"}
        assert thing["thingArn"] == "arn:aws:iot:us-east-1:123456789012:thing/old-thing"
        assert iot.get_policy(policyName="old-policy")["policyName"] == "old-policy"
        principals = iot.list_thing_principals(thingName="old-thing")["principals"]
        assert len(principals) == 1 and principals[0].startswith("arn:aws:iot:us-east-1:123456789012:cert/")
        certificate_id = principals[0].rsplit("/", 1)[1]
        assert iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"] == "ACTIVE"
        assert iot.list_attached_policies(target=principals[0])["policies"][0]["policyName"] == "old-policy"
        shadow = json.loads(data_client(srv, "us-east-1").get_thing_shadow(thingName="old-thing")["payload"].read())
        assert shadow["state"]["reported"] == {"temp": 21}
        # Another region of the upgraded folder starts empty.
        assert aws_error(lambda: iot_client(srv, region="eu-west-1").describe_thing(thingName="old-thing")) \
            == ("ResourceNotFoundException", 404)
    finally:
        srv.stop()


def sts_client(server: Server, key: str | None = None, secret: str | None = None, region: str = "us-east-1"):
    default_key, default_secret = admin_keys(server)
    return boto3.client("sts", region_name=region, endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key or default_key, aws_secret_access_key=secret or default_secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_sts_get_caller_identity_names_the_account_of_the_key(gateway):
    me = sts_client(gateway).get_caller_identity()
    assert me["Account"] == "123456789012"
    assert me["Arn"] == "arn:aws:iam::123456789012:user/portcullis-admin"
    assert me["UserId"].startswith("AIDA") and len(me["UserId"]) == 21
    assert sts_client(gateway, region="eu-west-1").get_caller_identity()["UserId"] == me["UserId"], "one key, one user"
    other = sts_client(gateway, SECOND_KEY, SECOND_SECRET, region="ap-northeast-1").get_caller_identity()
    assert other["Account"] == SECOND_ACCOUNT and other["Arn"] == f"arn:aws:iam::{SECOND_ACCOUNT}:user/portcullis-admin"
    code, status = aws_error(lambda: sts_client(gateway, "AKIANOBODYHASTHISKEY", "x" * 40).get_caller_identity())
    assert (code, status) == ("InvalidClientTokenId", 403)
    key, _ = admin_keys(gateway)
    assert aws_error(lambda: sts_client(gateway, key, "x" * 40).get_caller_identity()) == ("SignatureDoesNotMatch", 403)
    # Refused before any namespace is found (a region this gateway does not serve): still STS's XML.
    assert aws_error(lambda: sts_client(gateway, region="xx-nowhere-9").get_caller_identity()) == ("SignatureDoesNotMatch", 403)


def test_the_aws_iot_device_sdk_reaches_a_region_over_tls_and_websocket(gateway, tmp_path):
    """The SDK's mTLS builder with `iot.eu-west-1.localhost`, and its SigV4 WebSocket builder with region
    eu-west-1 (the credential scope picks the namespace): one namespace, one topic; the default
    namespace's subscriber on the same topic hears nothing."""
    import threading
    from awscrt import auth, mqtt
    from awsiot import mqtt_connection_builder
    cert, key, _ = make_device(gateway, "eu-west-1", "sdk-ireland", tmp_path)
    topic = f"sdk/{unique('t')}"
    default_device = gateway.mint(unique("sdk-default"))
    mark = gateway.log_mark()
    default_id = unique("default-listener")
    listener = subprocess.Popen([MOSQUITTO_SUB, "-h", "localhost", "-p", str(gateway.port), "--cafile", str(default_device.ca),
                                 "--cert", str(default_device.cert), "--key", str(default_device.key), "-i", default_id,
                                 "-t", topic, "-W", "6", "-V", "mqttv311"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    gateway.wait_log(mark, eventType="Subscribe", status="Success", clientId=default_id, topicName=topic)
    access_key, secret = admin_keys(gateway)
    ws = mqtt_connection_builder.websockets_with_default_aws_signing(
        endpoint="iot.eu-west-1.localhost", port=gateway.shared_port, region="eu-west-1",
        credentials_provider=auth.AwsCredentialsProvider.new_static(access_key, secret),
        ca_filepath=str(gateway.ca_cert), client_id=unique("sdk-ws"), clean_session=True, keep_alive_secs=30)
    tls = mqtt_connection_builder.mtls_from_path(
        endpoint="iot.eu-west-1.localhost", port=gateway.port, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(gateway.ca_cert), client_id=unique("sdk-tls"), clean_session=True, keep_alive_secs=30)
    ws.connect().result(15)
    tls.connect().result(15)
    try:
        got = threading.Event()
        payloads = []
        subscribed, _ = ws.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE, lambda topic, payload, **kw: (payloads.append(payload), got.set()))
        subscribed.result(10)
        published, _ = tls.publish(topic, b"from eu-west-1", mqtt.QoS.AT_LEAST_ONCE)
        published.result(10)
        assert got.wait(10) and payloads == [b"from eu-west-1"]
    finally:
        ws.disconnect().result(10)
        tls.disconnect().result(10)
    out, _ = listener.communicate(timeout=15)
    assert out == b"", "the default namespace heard eu-west-1's message"


def test_a_domain_configuration_cannot_take_another_namespaces_name(gateway, tmp_path):
    """Account B may serve a name of its own with a domain configuration, but not a name the gateway's
    rules give to another namespace (here the default namespace's regional name): devices of the default
    namespace keep reaching it, with the gateway's certificate."""
    from test_domain_configurations import make_server_certificate, served, served_serial
    acm = boto3.client("acm", region_name="us-east-1", endpoint_url=endpoint(gateway), verify=str(gateway.ca_cert),
                       aws_access_key_id=SECOND_KEY, aws_secret_access_key=SECOND_SECRET,
                       config=botocore.config.Config(retries={"max_attempts": 1}))
    theirs = iot_client(gateway, SECOND_KEY, SECOND_SECRET, region="us-east-1")
    taken = "iot.us-east-1.localhost"
    paths, _, serial = make_server_certificate(tmp_path / "takeover", [taken, "b-devices.example.com"])
    arn = acm.import_certificate(Certificate=paths["cert"].read_bytes(), PrivateKey=paths["key"].read_bytes())["CertificateArn"]
    theirs.create_domain_configuration(domainConfigurationName="takeover", domainName=taken, serverCertificateArns=[arn])
    theirs.create_domain_configuration(domainConfigurationName="own", domainName="b-devices.example.com", serverCertificateArns=[arn])
    device = gateway.mint(unique("default-ns"))
    assert served_serial(served(gateway, device, taken, "-showcerts")) != serial, "another account's certificate was served"
    assert served_serial(served(gateway, device, "b-devices.example.com", "-showcerts")) == serial, "its own name is served"
    sent = subprocess.run([MOSQUITTO_PUB, "-h", taken, "-p", str(gateway.port), "--cafile", str(device.ca), "--cert", str(device.cert),
                           "--key", str(device.key), "-i", unique("still-mine"), "-t", "a/b", "-m", "m", "-q", "1"],
                          capture_output=True, timeout=15)
    assert sent.returncode == 0, sent.stderr


def test_temporary_credentials_of_another_account_find_their_namespace(gateway, tmp_path):
    import requests
    region, account = "eu-west-1", SECOND_ACCOUNT
    theirs = iot_client(gateway, SECOND_KEY, SECOND_SECRET, region=region)
    role = unique("Role")
    theirs.create_policy(policyName=role, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"arn:aws:iot:{region}:{account}:topic/b/*"}]}))
    alias = unique("alias")
    alias_arn = theirs.create_role_alias(roleAlias=alias, roleArn=f"arn:aws:iam::{account}:role/{role}")["roleAliasArn"]
    cert = theirs.create_keys_and_certificate(setAsActive=True)
    assume = unique("assume")
    theirs.create_policy(policyName=assume, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": alias_arn}]}))
    theirs.attach_policy(policyName=assume, target=cert["certificateArn"])
    (tmp_path / "b.pem").write_text(cert["certificatePem"])
    (tmp_path / "b.key").write_text(cert["keyPair"]["PrivateKey"])
    answer = requests.get(f"https://{account}-ats.iot.{region}.localhost:{gateway.shared_port}/role-aliases/{alias}/credentials",
                          cert=(str(tmp_path / "b.pem"), str(tmp_path / "b.key")), verify=str(gateway.ca_cert), timeout=10)
    assert answer.status_code == 200, answer.text
    credentials = answer.json()["credentials"]
    data = boto3.client("iot-data", region_name=region, endpoint_url=endpoint(gateway), verify=str(gateway.ca_cert),
                        aws_access_key_id=credentials["accessKeyId"], aws_secret_access_key=credentials["secretAccessKey"],
                        aws_session_token=credentials["sessionToken"], config=botocore.config.Config(retries={"max_attempts": 1}))
    data.publish(topic="b/report", qos=1, payload=b"from account B")
    assert aws_error(lambda: data.publish(topic="a/report", qos=1, payload=b"x"))[1] == 403
