"""Role aliases and the credentials provider (issue 17): boto3's role-alias calls; a device's certificate
gets temporary credentials from `GET /role-aliases/<alias>/credentials` over mutual TLS (requests), and
botocore uses them for iot-data with the role's IoT policy until they expire; tokens are checked, bound
to their key and namespace, and survive a restart."""

from __future__ import annotations

import json
import threading

import boto3
import botocore.config
import pytest
import requests

from interop_support import Server, aws_error, endpoint, iot_client, unique

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def gw(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("credentials")).start()
    yield srv
    srv.stop()


def policy(iot, name: str, statements: list) -> None:
    iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def setup_alias(gw: Server, region: str = "us-east-1", duration: int = 900):
    """A role alias whose role is an IoT policy allowing publish on telemetry/*, and a device whose
    certificate may assume it, attached to a thing."""
    iot = iot_client(gw, region=region)
    role = unique("DeviceRole")
    policy(iot, role, [{"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [f"arn:aws:iot:{region}:{ACCOUNT}:topic/telemetry/*"]},
                       {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow"], "Resource": "*"},
                       {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"arn:aws:iot:{region}:{ACCOUNT}:client/temp-ws-*"}])
    alias = unique("alias")
    made = iot.create_role_alias(roleAlias=alias, roleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", credentialDurationSeconds=duration)
    assert made["roleAliasArn"] == f"arn:aws:iot:{region}:{ACCOUNT}:rolealias/{alias}"
    cert = iot.create_keys_and_certificate(setAsActive=True)
    may_assume = unique("assume")
    policy(iot, may_assume, [{"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": made["roleAliasArn"]}])
    iot.attach_policy(policyName=may_assume, target=cert["certificateArn"])
    thing = unique("cam")
    iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    return iot, alias, cert, thing


def write_identity(tmp_path, cert, name: str = "device") -> tuple[str, str]:
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_text(cert["certificatePem"])
    key_path.write_text(cert["keyPair"]["PrivateKey"])
    return str(cert_path), str(key_path)


def fetch(gw: Server, alias: str, identity: tuple[str, str] | None, thing: str | None, host: str = "localhost") -> requests.Response:
    headers = {"x-amzn-iot-thingname": thing} if thing else {}
    return requests.get(f"https://{host}:{gw.shared_port}/role-aliases/{alias}/credentials", headers=headers, cert=identity,
                        verify=str(gw.ca_cert), timeout=10)


def data_client(gw: Server, credentials: dict, region: str = "us-east-1"):
    return boto3.client("iot-data", region_name=region, endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                        aws_access_key_id=credentials["accessKeyId"], aws_secret_access_key=credentials["secretAccessKey"],
                        aws_session_token=credentials["sessionToken"], config=botocore.config.Config(retries={"max_attempts": 1}))


def test_role_alias_api_round_trip(gw):
    iot = iot_client(gw)
    alias = unique("ra")
    iot.create_role_alias(roleAlias=alias, roleArn=f"arn:aws:iam::{ACCOUNT}:role/Some/Path/Role", tags=[{"Key": "k", "Value": "v"}])
    described = iot.describe_role_alias(roleAlias=alias)["roleAliasDescription"]
    assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/Some/Path/Role"
    assert described["credentialDurationSeconds"] == 3600 and described["owner"] == ACCOUNT
    assert described["creationDate"] and described["lastModifiedDate"]
    assert iot.update_role_alias(roleAlias=alias, credentialDurationSeconds=43200)["roleAliasArn"].endswith(f"rolealias/{alias}")
    assert iot.describe_role_alias(roleAlias=alias)["roleAliasDescription"]["credentialDurationSeconds"] == 43200
    assert alias in [a for page in iot.get_paginator("list_role_aliases").paginate(PaginationConfig={"PageSize": 1}) for a in page["roleAliases"]]
    assert aws_error(lambda: iot.create_role_alias(roleAlias=alias, roleArn=f"arn:aws:iam::{ACCOUNT}:role/R")) == ("ResourceAlreadyExistsException", 409)
    assert aws_error(lambda: iot.create_role_alias(roleAlias=unique("x"), roleArn="arn:aws:iam::999999999999:role/R")) == ("InvalidRequestException", 400)
    iot.delete_role_alias(roleAlias=alias)
    assert aws_error(lambda: iot.describe_role_alias(roleAlias=alias)) == ("ResourceNotFoundException", 404)
    assert aws_error(lambda: iot.delete_role_alias(roleAlias=alias)) == ("ResourceNotFoundException", 404)


def test_a_device_gets_credentials_and_uses_them_for_iot_data(gw, tmp_path):
    iot, alias, cert, thing = setup_alias(gw)
    answer = fetch(gw, alias, write_identity(tmp_path, cert), thing)
    assert answer.status_code == 200, answer.text
    credentials = answer.json()["credentials"]
    assert credentials["accessKeyId"].startswith("ASIA") and credentials["sessionToken"] and credentials["expiration"].endswith("Z")
    data = data_client(gw, credentials)
    data.publish(topic="telemetry/cam", qos=1, payload=b"allowed by the role")
    assert aws_error(lambda: data.publish(topic="other/topic", qos=1, payload=b"x"))[1] == 403
    iot.create_thing(thingName=thing + "-shadowed")
    data.update_thing_shadow(thingName=thing + "-shadowed", payload=json.dumps({"state": {"reported": {"on": True}}}))
    # The control plane is not the role's: temporary keys call iot-data only.
    assert aws_error(lambda: boto3.client("iot", region_name="us-east-1", endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                                          aws_access_key_id=credentials["accessKeyId"], aws_secret_access_key=credentials["secretAccessKey"],
                                          aws_session_token=credentials["sessionToken"]).list_things())[1] == 403
    # The credentials survive a restart: nothing about them is stored.
    gw.stop()
    gw.start()
    data_client(gw, credentials).publish(topic="telemetry/again", qos=1, payload=b"after a restart")


def test_tokens_are_checked(gw, tmp_path):
    _, alias, cert, thing = setup_alias(gw)
    credentials = fetch(gw, alias, write_identity(tmp_path, cert), thing).json()["credentials"]
    data_client(gw, credentials).publish(topic="telemetry/x", payload=b"the genuine article works")
    forged = dict(credentials, sessionToken=credentials["sessionToken"][:-4] + ("AAAA" if not credentials["sessionToken"].endswith("AAAA") else "BBBB"))
    assert aws_error(lambda: data_client(gw, forged).publish(topic="telemetry/x", payload=b"x")) == ("UnrecognizedClientException", 403)
    other = fetch(gw, alias, write_identity(tmp_path, cert), thing).json()["credentials"]
    swapped = dict(credentials, sessionToken=other["sessionToken"])
    code, status = aws_error(lambda: data_client(gw, swapped).publish(topic="telemetry/x", payload=b"x"))
    assert status == 403, "another credential's token does not make this key valid"
    no_token = boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(gw), verify=str(gw.ca_cert),
                            aws_access_key_id=credentials["accessKeyId"], aws_secret_access_key=credentials["secretAccessKey"],
                            config=botocore.config.Config(retries={"max_attempts": 1}))
    assert aws_error(lambda: no_token.publish(topic="telemetry/x", payload=b"x"))[1] == 403
    # Another region's gateway namespace did not issue it.
    assert aws_error(lambda: data_client(gw, credentials, region="eu-west-1").publish(topic="telemetry/x", payload=b"x"))[1] == 403


def test_the_provider_refuses_what_aws_refuses(gw, tmp_path):
    iot, alias, cert, thing = setup_alias(gw)
    identity = write_identity(tmp_path, cert)
    assert fetch(gw, alias, None, thing).status_code == 403, "no client certificate"
    assert fetch(gw, unique("missing-alias"), identity, thing).status_code in (403, 404)
    assert fetch(gw, alias, identity, unique("not-attached")).status_code == 403
    # A certificate whose policies do not allow iot:AssumeRoleWithCertificate on the alias.
    other = iot.create_keys_and_certificate(setAsActive=True)
    denied = fetch(gw, alias, write_identity(tmp_path, other, "other"), None)
    assert denied.status_code == 403 and "AssumeRoleWithCertificate" in denied.text


def test_websocket_with_temporary_credentials_has_the_roles_policy(gw, tmp_path):
    from awscrt import auth, mqtt
    from awsiot import mqtt_connection_builder
    _, alias, cert, thing = setup_alias(gw)
    credentials = fetch(gw, alias, write_identity(tmp_path, cert), thing).json()["credentials"]
    provider = auth.AwsCredentialsProvider.new_static(credentials["accessKeyId"], credentials["secretAccessKey"],
                                                      session_token=credentials["sessionToken"])
    connection = mqtt_connection_builder.websockets_with_default_aws_signing(
        endpoint="localhost", port=gw.shared_port, region="us-east-1", credentials_provider=provider,
        ca_filepath=str(gw.ca_cert), client_id=unique("temp-ws"), clean_session=True, keep_alive_secs=30)
    connection.connect().result(15)
    try:
        published, _ = connection.publish("telemetry/ws", b"allowed", mqtt.QoS.AT_LEAST_ONCE)
        published.result(10)
        mark = gw.log_mark()
        connection.publish("forbidden/ws", b"denied", mqtt.QoS.AT_LEAST_ONCE)
        entry = gw.wait_log(mark, eventType="Publish-In", status="Failure", topicName="forbidden/ws")
        assert entry["principalId"] == credentials["accessKeyId"]
    finally:
        connection.disconnect().result(10)


def test_the_roles_policy_sees_the_credentials_iot_variables(gw, tmp_path):
    """AWS's role policies may name `${credentials-iot:ThingName}`, `${credentials-iot:ThingTypeName}` and
    `${credentials-iot:AwsCertificateId}`: the thing named when the credentials were asked for, its type,
    and the certificate that asked. Here the role is an IoT policy and sees the same variables."""
    region = "us-east-2"
    iot = iot_client(gw, region=region)
    role = unique("ScopedRole")
    policy(iot, role, [{"Effect": "Allow", "Action": "iot:Publish", "Resource":
                        f"arn:aws:iot:{region}:{ACCOUNT}:topic/${{credentials-iot:ThingTypeName}}/${{credentials-iot:ThingName}}/"
                        "${credentials-iot:AwsCertificateId}"}])
    alias = unique("scoped")
    arn = iot.create_role_alias(roleAlias=alias, roleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}")["roleAliasArn"]
    cert = iot.create_keys_and_certificate(setAsActive=True)
    may_assume = unique("assume")
    policy(iot, may_assume, [{"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": arn}])
    iot.attach_policy(policyName=may_assume, target=cert["certificateArn"])
    kind, thing = unique("camera"), unique("cam")
    iot.create_thing_type(thingTypeName=kind)
    iot.create_thing(thingName=thing, thingTypeName=kind)
    iot.attach_thing_principal(thingName=thing, principal=cert["certificateArn"])
    identity = write_identity(tmp_path, cert, "scoped")
    host = f"iot.{region}.localhost"
    answer = fetch(gw, alias, identity, thing, host=host)
    assert answer.status_code == 200, answer.text
    data = data_client(gw, answer.json()["credentials"], region=region)
    data.publish(topic=f"{kind}/{thing}/{cert['certificateId']}", qos=1, payload=b"mine")
    assert aws_error(lambda: data.publish(topic=f"{kind}/other-cam/{cert['certificateId']}", qos=1, payload=b"not mine"))[1] == 403
    # Credentials asked for without a thing have no thing variables: the resource naming them matches nothing.
    unscoped = fetch(gw, alias, identity, None, host=host)
    assert unscoped.status_code == 200
    assert aws_error(lambda: data_client(gw, unscoped.json()["credentials"], region=region).publish(
        topic=f"{kind}/{thing}/{cert['certificateId']}", qos=1, payload=b"x"))[1] == 403
