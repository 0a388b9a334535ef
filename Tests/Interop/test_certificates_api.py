"""Certificates, CA certificates and attachments with boto3 and awscli (reference 2.1, 2.2, 9.3), and identity
at the gateway coming from the registry: the AWS getting-started flow end to end (thing, keys and certificate,
policy, attachments, then MQTT with that certificate), revocation closing the live connection, a restart
keeping everything, CreateCertificateFromCsr, a CA registered with its verification certificate,
auto-registration, and the `portcullis device` commands on top of the same API.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interop_support import awscli, aws_error as error_of, V5, V311, Server, iot_client, make_gateway_signed_device, unique

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def iot(server):
    return iot_client(server)


def write_device(tmp_path: Path, name: str, created: dict) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert.write_text(created["certificatePem"])
    key.write_text(created["keyPair"]["PrivateKey"])
    os.chmod(key, 0o600)
    return cert, key


def test_getting_started_flow_then_mqtt_then_revocation(server, iot, paho, tmp_path):
    name = unique("gs-thing")
    iot.create_thing(thingName=name)
    created = iot.create_keys_and_certificate(setAsActive=True)
    arn, cert_id = created["certificateArn"], created["certificateId"]
    assert arn == f"arn:aws:iot:us-east-1:123456789012:cert/{cert_id}" and len(cert_id) == 64
    assert "PRIVATE KEY" in created["keyPair"]["PrivateKey"] and "PUBLIC KEY" in created["keyPair"]["PublicKey"]
    policy = unique("gs-policy")
    iot.create_policy(policyName=policy, policyDocument=POLICY)
    iot.attach_policy(policyName=policy, target=arn)
    iot.attach_thing_principal(thingName=name, principal=arn)
    assert iot.list_thing_principals(thingName=name)["principals"] == [arn]
    assert iot.list_principal_things(principal=arn)["things"] == [name]
    assert [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]] == [policy]
    assert iot.list_targets_for_policy(policyName=policy)["targets"] == [arn]
    described = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
    assert described["status"] == "ACTIVE" and described["certificatePem"] == created["certificatePem"]
    assert described["validity"]["notAfter"].year == 2049

    cert, key = write_device(tmp_path, name, created)
    mark = server.log_mark()
    device = paho("gs", V5, client_id=name, certfile=cert, keyfile=key)
    connect = server.wait_log(mark, eventType="Connect", status="Success", clientId=name)
    assert connect["principalId"] == cert_id
    v311 = paho("gs311", V311, certfile=cert, keyfile=key)

    iot.update_certificate(certificateId=cert_id, newStatus="REVOKED")
    assert device.disconnect_reason(timeout=2) == 0x87, "v5 hears Not authorized"
    assert v311.wait_disconnected(timeout=2) is not None
    again = paho("gs-again", V5, connect=False, certfile=cert, keyfile=key)
    assert again.try_connect(timeout=5) is False
    assert error_of(lambda: iot.update_certificate(certificateId=cert_id, newStatus="ACTIVE")) == ("CertificateStateException", 406)


def test_an_unregistered_certificate_from_the_gateway_ca_is_refused_until_activated(server, iot, paho, tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = make_gateway_signed_device(server, tmp_path, "unregistered", now - datetime.timedelta(hours=1),
                                           now + datetime.timedelta(days=1), register=None)
    mark = server.log_mark()
    client = paho("unreg", V5, connect=False, certfile=cert, keyfile=key)
    assert client.try_connect(timeout=5) is False
    assert "not registered" in server.wait_log(mark, eventType="Connect", status="Failure")["details"]
    registered = iot.register_certificate(certificatePem=cert.read_text())
    cert_id = registered["certificateId"]
    iot.attach_policy(policyName=server.ensure_allow_all_policy(), target=registered["certificateArn"])
    assert iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"] == "INACTIVE"
    mark = server.log_mark()
    assert paho("inactive", V5, connect=False, certfile=cert, keyfile=key).try_connect(timeout=5) is False
    assert "INACTIVE" in server.wait_log(mark, eventType="Connect", status="Failure")["details"]
    iot.update_certificate(certificateId=cert_id, newStatus="ACTIVE")
    assert paho("active", V5, certfile=cert, keyfile=key).connack_reason == 0


def test_create_certificate_from_csr(server, iot, paho, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr-device")]))
           .sign(key, hashes.SHA256()))
    created = iot.create_certificate_from_csr(certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(),
                                              setAsActive=True)
    iot.attach_policy(policyName=server.ensure_allow_all_policy(), target=created["certificateArn"])
    issued = x509.load_pem_x509_certificate(created["certificatePem"].encode())
    assert issued.public_key().public_numbers() == key.public_key().public_numbers(), "the device keeps its key"
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "csr-device"
    cert, key_path = tmp_path / "csr.pem", tmp_path / "csr.key"
    cert.write_text(created["certificatePem"])
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert paho("csr", V5, certfile=cert, keyfile=key_path).connack_reason == 0

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]))
                .sign(weak, hashes.SHA256()))
    assert error_of(lambda: iot.create_certificate_from_csr(
        certificateSigningRequest=weak_csr.public_bytes(serialization.Encoding.PEM).decode())) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.create_certificate_from_csr(certificateSigningRequest="not a csr")) == ("InvalidRequestException", 400)


def make_ca(workdir: Path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def issue(ca_cert, ca_key, common_name: str, workdir: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    workdir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = workdir / f"{common_name}.pem", workdir / f"{common_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_own_ca_with_verification_certificate_and_auto_registration(server, iot, paho, tmp_path):
    from cryptography.hazmat.primitives import serialization
    ca_cert, ca_key = make_ca(tmp_path, unique("Fleet CA"))
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    code = iot.get_registration_code()["registrationCode"]
    assert len(code) == 64 and iot.get_registration_code()["registrationCode"] == code
    wrong, _ = issue(ca_cert, ca_key, "not-the-code", tmp_path / "wrong")
    assert error_of(lambda: iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate=wrong.read_text())) \
        == ("RegistrationCodeValidationException", 400)
    proof, _ = issue(ca_cert, ca_key, code, tmp_path / "proof")
    registered = iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate=proof.read_text(),
                                             setAsActive=True, allowAutoRegistration=True)
    ca_id = registered["certificateId"]
    description = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
    assert description["status"] == "ACTIVE" and description["autoRegistrationStatus"] == "ENABLE"
    assert description["certificateMode"] == "DEFAULT"
    assert ca_id in [c["certificateId"] for page in iot.get_paginator("list_ca_certificates").paginate() for c in page["certificates"]]

    # A device of that CA connects once: it is registered PENDING_ACTIVATION, announced, and refused until
    # activated.
    topic = f"$aws/events/certificates/registered/{ca_id}"
    monitor = paho("ca-monitor", V5)
    monitor.subscribe(topic, 1)
    cert, key = issue(ca_cert, ca_key, "fleet-device", tmp_path / "device")
    assert paho("fleet", V5, connect=False, certfile=cert, keyfile=key).try_connect(timeout=5) is False
    event = json.loads(monitor.wait_message(topic).payload)
    pending = iot.list_certificates_by_ca(caCertificateId=ca_id)["certificates"]
    assert [c["status"] for c in pending] == ["PENDING_ACTIVATION"]
    assert event["certificateId"] == pending[0]["certificateId"] and event["caCertificateId"] == ca_id
    assert event["certificateStatus"] == "PENDING_ACTIVATION" and event["awsAccountId"] == "123456789012"
    iot.update_certificate(certificateId=pending[0]["certificateId"], newStatus="ACTIVE")
    iot.attach_policy(policyName=server.ensure_allow_all_policy(), target=pending[0]["certificateArn"])
    client = paho("fleet", V5, certfile=cert, keyfile=key)
    assert client.connack_reason == 0

    # Deactivating the CA closes its devices' connections.
    iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
    assert client.disconnect_reason(timeout=2) == 0x87
    assert error_of(lambda: iot.delete_ca_certificate(certificateId=ca_id)) == ("CertificateStateException", 406)


def test_refusals_a_client_can_trigger(iot, tmp_path):
    missing = "0" * 64
    assert error_of(lambda: iot.describe_certificate(certificateId=missing)) == ("ResourceNotFoundException", 404)
    assert error_of(lambda: iot.describe_certificate(certificateId="g" * 64)) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.register_certificate_without_ca(certificatePem="garbage")) == ("CertificateValidationException", 400)
    created = iot.create_keys_and_certificate(setAsActive=True)
    cert_id, arn = created["certificateId"], created["certificateArn"]
    assert error_of(lambda: iot.update_certificate(certificateId=cert_id, newStatus="PENDING_ACTIVATION")) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.delete_certificate(certificateId=cert_id)) == ("CertificateStateException", 406)
    iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    policy = unique("p")
    iot.create_policy(policyName=policy, policyDocument=POLICY)
    iot.attach_policy(policyName=policy, target=arn)
    assert error_of(lambda: iot.delete_policy(policyName=policy)) == ("DeleteConflictException", 409)
    assert error_of(lambda: iot.delete_certificate(certificateId=cert_id)) == ("DeleteConflictException", 409)
    thing = unique("t")
    iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName=thing, principal=arn, thingPrincipalType="EXCLUSIVE_THING")
    other = unique("t")
    iot.create_thing(thingName=other)
    assert error_of(lambda: iot.attach_thing_principal(thingName=other, principal=arn)) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.delete_thing(thingName=thing)) == ("InvalidRequestException", 400)
    assert error_of(lambda: iot.delete_certificate(certificateId=cert_id, forceDelete=True)) == ("DeleteConflictException", 409)
    iot.detach_thing_principal(thingName=thing, principal=arn)
    iot.delete_certificate(certificateId=cert_id, forceDelete=True)
    assert iot.list_targets_for_policy(policyName=policy)["targets"] == []
    assert error_of(lambda: iot.attach_policy(policyName=policy, target="arn:aws:iot:us-east-1:123456789012:thinggroup/none")) \
        == ("ResourceNotFoundException", 404)


def test_everything_survives_a_restart_and_the_device_still_connects(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path / "srv").start()
    try:
        iot = iot_client(srv)
        iot.create_thing(thingName="kept")
        created = iot.create_keys_and_certificate(setAsActive=True)
        iot.attach_thing_principal(thingName="kept", principal=created["certificateArn"])
        iot.create_policy(policyName="kept-policy", policyDocument=POLICY)
        iot.attach_policy(policyName="kept-policy", target=created["certificateArn"])
        revoked = iot.create_keys_and_certificate(setAsActive=True)
        iot.update_certificate(certificateId=revoked["certificateId"], newStatus="REVOKED")
        srv.stop()
        srv.start()
        iot = iot_client(srv)
        assert iot.list_principal_things(principal=created["certificateArn"])["things"] == ["kept"]
        assert iot.list_targets_for_policy(policyName="kept-policy")["targets"] == [created["certificateArn"]]
        assert iot.describe_certificate(certificateId=revoked["certificateId"])["certificateDescription"]["status"] == "REVOKED"
        cert, key = write_device(tmp_path, "kept", created)
        result = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(srv.port), "-i", "kept", "-t", "kept/hello", "-m", "hi",
                                 "-q", "1", "--cafile", str(srv.ca_cert), "--cert", str(cert), "--key", str(key)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        bad_cert, bad_key = write_device(tmp_path, "revoked", revoked)
        result = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(srv.port), "-i", "revoked", "-t", "x", "-m", "hi",
                                 "--cafile", str(srv.ca_cert), "--cert", str(bad_cert), "--key", str(bad_key)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
    finally:
        srv.stop()


def test_awscli_certificate_round_trip(server, tmp_path):
    run = awscli(server)

    created = run("create-keys-and-certificate", "--set-as-active", "--certificate-pem-outfile", str(tmp_path / "c.pem"),
                  "--private-key-outfile", str(tmp_path / "c.key"))
    assert (tmp_path / "c.pem").read_text() == created["certificatePem"]
    thing = unique("cli")
    run("create-thing", "--thing-name", thing)
    run("attach-thing-principal", "--thing-name", thing, "--principal", created["certificateArn"])
    assert run("list-thing-principals", "--thing-name", thing)["principals"] == [created["certificateArn"]]
    listed = run("list-certificates")["certificates"]
    assert created["certificateId"] in [c["certificateId"] for c in listed]


def test_device_commands(server, paho):
    cli = [str(server.binary), "device"]
    name = unique("cli-device")
    result = subprocess.run(cli + ["create", name, "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cert_id = next(line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if line.startswith("certificate id"))
    folder = server.data_dir / "devices" / name
    cert, key = folder / f"{name}.cert.pem", folder / f"{name}.private.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert iot_client(server).list_thing_principals(thingName=name)["principals"][0].endswith(cert_id)
    client = paho("cli", V5, client_id=name, certfile=cert, keyfile=key)
    # Without --policy: portcullis-quickstart, connect as the thing name only, any topic.
    assert "policy         : portcullis-quickstart" in result.stdout
    arn = iot_client(server).list_thing_principals(thingName=name)["principals"][0]
    assert [p["policyName"] for p in iot_client(server).list_attached_policies(target=arn)["policies"]] == ["portcullis-quickstart"]
    assert client.subscribe("hello/#") == [1]
    assert client.publish("hello/world", "hi", qos=1) == 0
    assert client.wait_message("hello/world").payload == b"hi"
    impostor = paho("cli-x", V5, connect=False, client_id=unique("not-the-thing"), certfile=cert, keyfile=key)
    assert impostor.try_connect() is False and impostor.connack_reason == 0x87
    listed = subprocess.run(cli + ["list", "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and any(line.startswith(cert_id) and "ACTIVE" in line and name in line
                                          for line in listed.stdout.splitlines()), listed.stdout
    revoked = subprocess.run(cli + ["revoke", cert_id, "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    assert client.disconnect_reason(timeout=2) == 0x87
    again = subprocess.run(cli + ["revoke", "f" * 64, "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "ResourceNotFoundException" in again.stderr
    # A refused create leaves nothing behind.
    before = len(iot_client(server).list_certificates(pageSize=250)["certificates"])
    failed = subprocess.run(cli + ["create", unique("no-policy"), "--policy", "no-such-policy", "--data-dir", str(server.data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "ResourceNotFoundException" in failed.stderr
    assert len(iot_client(server).list_certificates(pageSize=250)["certificates"]) == before


def test_limits_a_client_can_reach(iot):
    created = iot.create_keys_and_certificate()
    arn = created["certificateArn"]
    names = [unique("limit") for _ in range(11)]
    for name in names:
        iot.create_policy(policyName=name, policyDocument=POLICY)
    for name in names[:10]:
        iot.attach_policy(policyName=name, target=arn)
    assert error_of(lambda: iot.attach_policy(policyName=names[10], target=arn)) == ("LimitExceededException", 410)
    assert len(iot.list_principal_policies(principal=arn)["policies"]) == 10, "the deprecated name for ListAttachedPolicies"
    iot.detach_principal_policy(policyName=names[0], principal=arn)
    assert arn not in iot.list_policy_principals(policyName=names[0])["principals"]
    iot.attach_principal_policy(policyName=names[10], principal=arn)
    assert iot.list_policy_principals(policyName=names[10])["principals"] == [arn]
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    iot.tag_resource(resourceArn=iot.get_policy(policyName=names[0])["policyArn"], tags=tags)
    assert error_of(lambda: iot.tag_resource(resourceArn=iot.get_policy(policyName=names[0])["policyArn"],
                                             tags=[{"Key": "one-more", "Value": "v"}])) == ("LimitExceededException", 410)


def test_rsa_keys_under_2048_bits_are_refused_with_aws_rule(server, iot, tmp_path):
    """Issue 16: RSA-1024 was refused with "not a valid PEM certificate" or "incorrectParameterSize". Now the
    message says AWS's rule, for registration, CSRs and handshakes (logged)."""
    import socket
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from interop_support import aws_error_message

    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = make_gateway_signed_device(server, tmp_path, "weak", now - datetime.timedelta(hours=1),
                                           now + datetime.timedelta(days=1), key_type="rsa-1024", register=None)
    rule = "RSA key has 1024 bits; AWS IoT accepts RSA keys of at least 2048 bits"
    for call in (lambda: iot.register_certificate(certificatePem=cert.read_text(), status="ACTIVE"),
                 lambda: iot.register_certificate_without_ca(certificatePem=cert.read_text(), status="ACTIVE")):
        code, message = aws_error_message(call)
        assert code == "CertificateValidationException" and rule in message, message

    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak-csr")]))
           .sign(weak_key, hashes.SHA256()))
    code, message = aws_error_message(lambda: iot.create_certificate_from_csr(
        certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(), setAsActive=True))
    assert code == "InvalidRequestException" and "certificate signing request's " + rule in message, message

    # A device presenting such a certificate is refused in the handshake, and the log says why.
    mark = server.log_mark()
    ctx = ssl.create_default_context(cafile=str(server.ca_cert))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client's OpenSSL would refuse to send a 1024-bit key otherwise
    ctx.load_cert_chain(str(cert), str(key))
    try:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost") as tls:
            tls.settimeout(10)
            tls.sendall(b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01w")
            assert tls.recv(4) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass
    entry = server.wait_log(mark, eventType="Connect", status="Failure", reason="AUTHENTICATION_FAILURE")
    assert "1024 bits" in entry["details"], entry
