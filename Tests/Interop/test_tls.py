"""4. Refusals at the TLS handshake (reference 1.4, 2.1): no client certificate, a certificate from another
CA, an expired certificate from the gateway's own CA (and one not valid yet). Each client fails to connect
and the IoT log has a Connect Failure with reason AUTHENTICATION_FAILURE.

With TLS 1.3 the client finishes its side of the handshake before the server has checked the client
certificate, so the refusal reaches the client as an alert on its first read: the clients see "connection
failed" or "connection closed before CONNACK", never a CONNACK.
"""

from __future__ import annotations

import subprocess
import datetime

import pytest

from interop_support import (V5, V311, RawTLSClient, connect_packet, make_expired_device,
                             make_foreign_ca_device, make_gateway_signed_device, make_not_yet_valid_device,
                             mosquitto_pub, mosquitto_tls_args, unique)

CASES = ["no-certificate", "foreign-ca", "expired", "not-yet-valid"]
CLIENTS = ["paho-v311", "paho-v5", "mosquitto_pub", "raw-tls"]
# What the log entry's details say for each case.
DETAILS = {"no-certificate": "no certificate", "foreign-ca": "untrusted", "expired": "expired",
           "not-yet-valid": "not valid before"}


@pytest.fixture(scope="module")
def bad_credentials(server, tmp_path_factory):
    foreign = make_foreign_ca_device(tmp_path_factory.mktemp("foreign-ca"))
    expired = make_expired_device(server, tmp_path_factory.mktemp("expired"))
    future = make_not_yet_valid_device(server, tmp_path_factory.mktemp("not-yet-valid"))
    return {"no-certificate": (None, None), "foreign-ca": foreign, "expired": expired, "not-yet-valid": future}


def test_expired_certificate_is_really_expired_and_signed_by_gateway_ca(server, bad_credentials):
    """Guards the fixture: the expired certificate differs from a good one only by its dates."""
    cert, _ = bad_credentials["expired"]
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(server.ca_cert), str(cert)],
                            capture_output=True, text=True, timeout=10)
    assert "certificate has expired" in verify.stdout + verify.stderr
    ok = subprocess.run(["openssl", "verify", "-no_check_time", "-CAfile", str(server.ca_cert), str(cert)],
                        capture_output=True, text=True, timeout=10)
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.parametrize("client_kind", CLIENTS)
@pytest.mark.parametrize("case", CASES)
def test_handshake_refused(server, device, paho, bad_credentials, case, client_kind):
    cert, key = bad_credentials[case]
    client_id = unique(f"tls-{case}")
    mark = server.log_mark()

    if client_kind.startswith("paho"):
        version = V5 if client_kind == "paho-v5" else V311
        client = paho(version=version, client_id=client_id, connect=False, certfile=cert, keyfile=key)
        assert client.try_connect(timeout=5) is False
        assert client.connack is None, f"got a CONNACK: {client.connack}"
    elif client_kind == "mosquitto_pub":
        tls = mosquitto_tls_args(server, None, cert=cert, key=key, ca=device.ca)
        result = mosquitto_pub(server, None, client_id, unique("tls/t"), message="x", qos=1, version=V5, tls=tls,
                               timeout=15)
        assert result.returncode != 0, result.stdout
    else:
        raw = RawTLSClient(server, None, cert=cert, key=key)
        try:
            raw.send(connect_packet(client_id, V5))
        except OSError:
            pass  # the alert may already have closed the socket
        try:
            packets = raw.read_until_closed(timeout=5)
        except OSError:
            packets = []
        assert packets == [], f"the server answered with MQTT packets: {packets}"
        raw.close()

    entry = server.wait_log(mark, eventType="Connect", status="Failure", reason="AUTHENTICATION_FAILURE")
    assert entry["sourceIp"] == "127.0.0.1"
    assert DETAILS[case] in entry.get("details", ""), entry
    assert not server.find_log(mark, eventType="Connect", status="Success", clientId=client_id)


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-2048"])
def test_control_certificate_from_gateway_ca_with_valid_dates_accepted(server, paho, tmp_path, key_type):
    """The control for 'expired' / 'not-yet-valid': built the same way with current dates, it connects; so do
    RSA device keys (common on devices provisioned for AWS)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = make_gateway_signed_device(server, tmp_path, f"valid-{key_type}", now - datetime.timedelta(days=1),
                                           now + datetime.timedelta(days=1), key_type)
    client = paho("valid-now", V5, certfile=cert, keyfile=key)
    assert client.connack_reason == 0


@pytest.mark.parametrize("tls_version", ["tlsv1.2", "tlsv1.3"])
def test_tls_versions_with_mosquitto(server, device, paho, tls_version):
    topic = unique("tls/version")
    sub = paho("sub", V311)
    sub.subscribe(topic, 1)
    result = mosquitto_pub(server, device, unique("mpub"), topic, message=tls_version, qos=1, version=V5,
                           extra=["--tls-version", tls_version])
    assert result.returncode == 0, result.stderr
    assert sub.wait_message(topic).payload == tls_version.encode()


@pytest.mark.parametrize("case", CASES)
def test_handshake_refused_tls12(server, device, bad_credentials, case):
    """With TLS 1.2 the refusal happens inside the handshake itself."""
    cert, key = bad_credentials[case]
    mark = server.log_mark()
    tls = mosquitto_tls_args(server, None, cert=cert, key=key, ca=device.ca)
    result = mosquitto_pub(server, None, unique("tls12"), unique("tls/t"), message="x", qos=1, version=V311,
                           tls=tls, extra=["--tls-version", "tlsv1.2"])
    assert result.returncode != 0, result.stdout
    entry = server.wait_log(mark, eventType="Connect", status="Failure", reason="AUTHENTICATION_FAILURE")
    assert DETAILS[case] in entry.get("details", ""), entry
