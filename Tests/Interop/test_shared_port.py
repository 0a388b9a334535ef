"""The shared port, like AWS's 443 (reference 1.2), cell by cell of the protocol / ALPN / authentication matrix,
with real clients: mosquitto with --tls-alpn, paho-mqtt over WebSocket (presigned URL and client certificate),
the AWS IoT Device SDK v2 over WebSocket with SigV4, awscli iot-data, curl with a client certificate, Python's
ssl with ALPN x-amzn-http-ca. Refusals are checked too: custom-authorizer ALPN, no credentials, a bad or expired
signature, no subprotocol, a certificate whose policy denies, bytes that are not HTTP."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

from interop_support import (MOSQUITTO_PUB, V311, V5, VERSION_IDS, VERSIONS, PahoClient, Server, admin_keys, awscli,
                             connect_packet, iot_client, unique, wait_until)
from test_data_plane_keys import make_key
from test_domain_configurations import make_server_certificate

ACCOUNT_ARN = "arn:aws:iot:us-east-1:123456789012"


def presign(server, key: str, secret: str, *, service: str = "iotdevicegateway", token: str | None = None,
            when: datetime.datetime | None = None, expires: int | None = None) -> str:
    """`/mqtt?...` as the AWS IoT Device SDKs build it: SigV4 query signing of GET /mqtt with only `host`
    signed, then `X-Amz-Security-Token` appended after the signature (reference 2.8)."""
    now = when or datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/us-east-1/{service}/aws4_request"
    params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{key}/{scope}", "X-Amz-Date": amz,
              "X-Amz-SignedHeaders": "host"}
    if expires is not None:
        params["X-Amz-Expires"] = str(expires)
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(params.items()))
    host = f"localhost:{server.shared_port}"
    canonical = "\n".join(["GET", "/mqtt", query, f"host:{host}\n", "host", hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing = ("AWS4" + secret).encode()
    for part in (day, "us-east-1", service, "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    path = f"/mqtt?{query}&X-Amz-Signature={hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()}"
    if token:
        path += "&X-Amz-Security-Token=" + urllib.parse.quote(token, safe="")
    return path


def shared_tls(server, device, alpn: str | None, cert: bool = True) -> list[str]:
    args = ["-h", "localhost", "-p", str(server.shared_port), "--cafile", str(server.ca_cert)]
    if cert:
        args += ["--cert", str(device.cert), "--key", str(device.key)]
    if alpn:
        args += ["--tls-alpn", alpn]
    return args


def https(server, method: str, path: str, body: bytes = b"", device=None, alpn: list[str] | None = None,
          headers: dict | None = None, server_name: str = "localhost", ca=None) -> tuple[int, dict, bytes, str | None]:
    """One request on the shared port with Python's ssl: optional client certificate, ALPN list and SNI."""
    context = ssl.create_default_context(cafile=str(ca or server.ca_cert))
    if device:
        context.load_cert_chain(str(device.cert), str(device.key))
    if alpn:
        context.set_alpn_protocols(alpn)
    connection = http.client.HTTPConnection(server_name, server.shared_port, timeout=10)
    raw = socket.create_connection(("127.0.0.1", server.shared_port), timeout=10)
    connection.sock = context.wrap_socket(raw, server_hostname=server_name)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        negotiated = connection.sock.selected_alpn_protocol() if connection.sock else None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), negotiated
    finally:
        connection.close()


def curl(server, *args: str) -> tuple[int, dict]:
    result = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", str(server.ca_cert), *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body) if body.strip() else {}


@pytest.fixture(scope="module")
def listener(server, device):
    """A subscriber on 8883 that sees what arrives through the shared port."""
    sub = PahoClient(server, device, unique("shared-sub"), V5)
    sub.connect()
    sub.subscribe("shared/#", 1)
    yield sub
    sub.close()


@pytest.fixture(scope="module")
def restricted(server):
    """A device whose policy allows connecting, publishing and reading retained messages only under allowed/."""
    name = unique("shared-restricted")
    iot_client(server).create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish", "iot:GetRetainedMessage"],
         "Resource": f"{ACCOUNT_ARN}:topic/allowed/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ACCOUNT_ARN}:topicfilter/allowed/*"},
    ]}))
    return server.mint(unique("restricted-device"), policy=name)


# -- MQTT ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_mqtt_with_alpn_x_amzn_mqtt_ca_and_a_client_certificate(server, device, listener, version):
    topic = f"shared/alpn/{version}"
    result = subprocess.run([MOSQUITTO_PUB, *shared_tls(server, device, "x-amzn-mqtt-ca"), "-i", unique("alpn-pub"),
                             "-t", topic, "-m", "over-alpn", "-q", "1", "-V", "mqttv5" if version == V5 else "mqttv311"],
                            capture_output=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert listener.wait_message(topic).payload == b"over-alpn"


def test_mqtt_with_alpn_x_amzn_mqtt_ca_needs_a_client_certificate(server, device):
    mark = server.log_mark()
    result = subprocess.run([MOSQUITTO_PUB, *shared_tls(server, device, "x-amzn-mqtt-ca", cert=False), "-i", unique("nocert"),
                             "-t", "shared/x", "-m", "x"], capture_output=True, timeout=20)
    assert result.returncode != 0
    entry = server.wait_log(mark, eventType="Connect", status="Failure")
    assert "needs a client certificate" in entry["details"]


@pytest.mark.parametrize("version,expected", [(V311, b"not authorised"), (V5, b"Bad authentication method")], ids=VERSION_IDS)
def test_alpn_mqtt_asks_for_a_custom_authorizer_and_is_refused_clearly(server, device, version, expected):
    mark = server.log_mark()
    result = subprocess.run([MOSQUITTO_PUB, *shared_tls(server, device, "mqtt"), "-i", unique("custom-auth"), "-t", "shared/x",
                             "-m", "x", "-V", "mqttv5" if version == V5 else "mqttv311"], capture_output=True, timeout=20)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    entry = server.wait_log(mark, eventType="Connect", status="Failure")
    assert "custom authorizer" in entry["details"]


def test_port_8883_still_takes_mqtt_without_alpn(server, device, listener):
    result = subprocess.run([MOSQUITTO_PUB, "-h", "localhost", "-p", str(server.port), "--cafile", str(server.ca_cert),
                             "--cert", str(device.cert), "--key", str(device.key), "-i", unique("plain"), "-t", "shared/8883",
                             "-m", "plain", "-q", "1"], capture_output=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert listener.wait_message("shared/8883").payload == b"plain"


# -- HTTPS -----------------------------------------------------------------------------------------------------


def test_https_publish_with_sigv4_from_awscli(server, listener):
    data = awscli(server, "iot-data")
    data("publish", "--endpoint-url", f"https://localhost:{server.shared_port}", "--ca-bundle", str(server.ca_cert),
         "--topic", "shared/awscli", "--qos", "1", "--payload", "from-awscli")
    assert listener.wait_message("shared/awscli").payload == b"from-awscli"


def test_https_publish_with_a_client_certificate_from_curl(server, device, listener):
    status, body = curl(server, "--cert", str(device.cert), "--key", str(device.key), "-X", "POST",
                        f"https://localhost:{server.shared_port}/topics/shared%2Fcurl%2Fa?qos=1", "--data-binary", "from-curl")
    assert status == 200 and body["message"] == "OK" and body["traceId"]
    received = listener.wait_message("shared/curl/a")
    assert received.payload == b"from-curl" and received.qos == 1


def test_https_with_alpn_x_amzn_http_ca_and_a_client_certificate(server, device, listener):
    status, _, body, negotiated = https(server, "POST", "/topics/shared%2Fhttp-ca", b"from-python", device=device,
                                        alpn=["x-amzn-http-ca"])
    assert negotiated == "x-amzn-http-ca"
    assert status == 200, body
    assert listener.wait_message("shared/http-ca").payload == b"from-python"


def test_https_certificate_requests_are_decided_by_its_policies(server, restricted):
    base = f"https://localhost:{server.shared_port}"
    cert = ["--cert", str(restricted.cert), "--key", str(restricted.key)]
    status, _ = curl(server, *cert, "-X", "POST", f"{base}/topics/allowed%2Fx?retain=true", "--data-binary", "kept")
    assert status == 200
    status, body = curl(server, *cert, "-X", "POST", f"{base}/topics/denied%2Fx", "--data-binary", "no")
    assert status == 403 and body["__type"] == "ForbiddenException"
    assert "iot:Publish" in body["message"] and "denied/x" in body["message"], body
    status, body = curl(server, *cert, f"{base}/retainedMessage/allowed%2Fx")
    assert status == 200 and body["topic"] == "allowed/x"
    status, body = curl(server, *cert, f"{base}/retainedMessage")
    assert status == 403 and "iot:ListRetainedMessages" in body["message"]
    status, body = curl(server, *cert, f"{base}/connections/some-client")
    assert status == 403 and "iot:GetConnection" in body["message"]


def test_https_without_credentials_is_refused(server):
    status, headers, body, _ = https(server, "POST", "/topics/shared%2Fanon", b"x")
    assert status == 403
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"


def test_https_with_a_bad_signature_is_refused_even_with_a_certificate(server, device):
    key, _ = admin_keys(server)
    auth = f"AWS4-HMAC-SHA256 Credential={key}/20261201/us-east-1/iotdata/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    status, _, body, _ = https(server, "POST", "/topics/shared%2Fx", b"x", device=device,
                               headers={"Authorization": auth, "X-Amz-Date": "20261201T000000Z"})
    assert status == 403, body


def test_the_shared_port_serves_iot_data_only(server):
    result = awscli(server, "iot", check=False)("list-things", "--endpoint-url", f"https://localhost:{server.shared_port}",
                                                "--ca-bundle", str(server.ca_cert))
    assert result.returncode != 0


def test_mqtt_bytes_without_alpn_get_an_http_400(server, device):
    context = ssl.create_default_context(cafile=str(server.ca_cert))
    with socket.create_connection(("localhost", server.shared_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer


def test_an_upgrade_request_elsewhere_is_refused_and_not_served(server, device, listener):
    status, body = curl(server, "--cert", str(device.cert), "--key", str(device.key), "-H", "Connection: Upgrade",
                        "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                        "-X", "POST", f"https://localhost:{server.shared_port}/topics/shared%2Fupgrade", "--data-binary", "x")
    assert status == 400 and body["__type"] == "InvalidRequestException"
    listener.assert_no_message("shared/upgrade", within=0.5)


def test_get_mqtt_without_an_upgrade_is_explained(server, device):
    status, _, body, _ = https(server, "GET", "/mqtt", device=device)
    assert status == 400 and b"WebSocket" in body


# -- MQTT over WebSocket ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["iotdevicegateway", "iotdata"])
@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_websocket_with_a_sigv4_presigned_url(server, device, listener, service, version):
    key, secret = admin_keys(server)
    mark = server.log_mark()
    client_id = unique("ws-sigv4")
    ws = PahoClient(server, device, client_id, version, certfile=None, keyfile=None, ca=server.ca_cert,
                    port=server.shared_port, ws_path=presign(server, key, secret, service=service, token="AQoDYXdzEXAMPLE"))
    try:
        ws.connect()
        ws.subscribe("shared/ws/echo", 1)
        ws.publish("shared/ws/echo", b"over-websocket", qos=1)
        assert ws.wait_message("shared/ws/echo").payload == b"over-websocket"
        assert listener.wait_message("shared/ws/echo").payload == b"over-websocket"
        entry = server.wait_log(mark, eventType="Connect", status="Success", clientId=client_id)
        assert entry["principalId"] == key
    finally:
        ws.close()


def test_websocket_with_a_client_certificate(server, device, listener):
    ws = PahoClient(server, device, unique("ws-cert"), V5, port=server.shared_port, ws_path="/mqtt")
    try:
        ws.connect()
        ws.publish("shared/ws/cert", b"cert-over-websocket", qos=1)
        assert listener.wait_message("shared/ws/cert").payload == b"cert-over-websocket"
    finally:
        ws.close()


def test_websocket_with_the_aws_iot_device_sdk_and_sigv4(server, listener):
    from awscrt import auth, mqtt
    from awsiot import mqtt_connection_builder
    key, secret = admin_keys(server)
    credentials = auth.AwsCredentialsProvider.new_static(key, secret, session_token="AQoDYXdzEXAMPLE")
    connection = mqtt_connection_builder.websockets_with_default_aws_signing(
        endpoint="localhost", port=server.shared_port, region="us-east-1", credentials_provider=credentials,
        ca_filepath=str(server.ca_cert), client_id=unique("sdk-ws"), clean_session=True, keep_alive_secs=30)
    connection.connect().result(15)
    try:
        got = threading.Event()
        payloads = []
        subscribed, _ = connection.subscribe("shared/sdk", mqtt.QoS.AT_LEAST_ONCE,
                                             lambda topic, payload, **kw: (payloads.append(payload), got.set()))
        subscribed.result(10)
        published, _ = connection.publish("shared/sdk", b"from-the-sdk", mqtt.QoS.AT_LEAST_ONCE)
        published.result(10)
        assert got.wait(10) and payloads == [b"from-the-sdk"]
        assert listener.wait_message("shared/sdk").payload == b"from-the-sdk"
    finally:
        connection.disconnect().result(10)


def ws_upgrade(server, path: str, protocol: str | None = "mqtt", device=None) -> tuple[int, dict]:
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    status, _, body, _ = https(server, "GET", path, device=device, headers=headers)
    return status, json.loads(body) if body else {}


def test_websocket_refusals_say_why(server, device):
    key, secret = admin_keys(server)
    status, body = ws_upgrade(server, presign(server, key, "not-the-secret-at-all"))
    assert status == 403 and "signature" in body["message"]
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    status, body = ws_upgrade(server, presign(server, key, secret, when=old))
    assert status == 403 and "expired" in body["message"].lower()
    status, body = ws_upgrade(server, presign(server, key, secret, when=old, expires=60))
    assert status == 403 and "expired" in body["message"].lower()
    status, body = ws_upgrade(server, presign(server, key, secret, service="iot"))
    assert status == 403 and "service" in body["message"]
    status, body = ws_upgrade(server, "/mqtt")
    assert status == 403 and "presigned URL" in body["message"]
    status, body = ws_upgrade(server, "/mqtt", protocol=None, device=device)
    assert status == 400 and "subprotocol" in body["message"]
    status, _ = ws_upgrade(server, "/other", device=device)
    assert status == 400


def test_websocket_with_a_data_plane_key_follows_its_policies_and_ends_with_the_key(server, device):
    policy = unique("ws-key-policy")
    client_id = unique("ws-key")
    iot_client(server).create_policy(policyName=policy, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCOUNT_ARN}:client/{client_id}"},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ACCOUNT_ARN}:topic/shared/key/*"},
    ]}))
    key, secret = make_key(server, policy)
    refused = PahoClient(server, device, unique("ws-key-other"), V5, certfile=None, keyfile=None, ca=server.ca_cert,
                         port=server.shared_port, ws_path=presign(server, key, secret))
    try:
        assert not refused.try_connect()
        assert refused.connack_reason == 0x87, "iot:Connect is allowed for its own client id only"
    finally:
        refused.close()
    ws = PahoClient(server, device, client_id, V5, certfile=None, keyfile=None, ca=server.ca_cert,
                    port=server.shared_port, ws_path=presign(server, key, secret))
    try:
        ws.connect()
        assert ws.publish("shared/key/ok", b"x", qos=1) == 0
        assert ws.publish("shared/elsewhere", b"x", qos=1) == 0x87
        subprocess.run([str(server.binary), "access-key", "delete", key, "--data-dir", str(server.data_dir)],
                       check=True, capture_output=True, timeout=30)
        assert ws.wait_disconnected() is not None, "deleting the key ends the connection it signed"
    finally:
        ws.close()


# -- domain configurations on the shared port ------------------------------------------------------------------


def test_a_domains_protocol_and_authentication_rules_apply_on_the_shared_port(server, device, tmp_path):
    """A domain for HTTPS with X.509 only: its name gets its certificate, certificate-authenticated HTTPS
    works, SigV4 and MQTT are refused for it; the default domain still serves everything."""
    domain = f"{unique('https-only')}.example.com"
    acm, iot = awscli(server, "acm"), awscli(server, "iot")
    paths, _, _ = make_server_certificate(tmp_path / "d", [domain])
    arn = acm("import-certificate", "--certificate", f"fileb://{paths['cert']}", "--private-key", f"fileb://{paths['key']}")["CertificateArn"]
    name = unique("https-x509")
    iot("create-domain-configuration", "--domain-configuration-name", name, "--domain-name", domain, "--server-certificate-arns", arn,
        "--application-protocol", "HTTPS", "--authentication-type", "AWS_X509")
    try:
        status, _, body, _ = https(server, "POST", "/topics/shared%2Fdomain", b"x", device=device, server_name=domain, ca=paths["ca"])
        assert status == 200, body
        key, secret = admin_keys(server)
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        request = botocore.awsrequest.AWSRequest(method="POST", url=f"https://{domain}:{server.shared_port}/topics/shared%2Fdomain", data=b"x")
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "iotdata", "us-east-1").add_auth(request)
        status, _, body, _ = https(server, "POST", "/topics/shared%2Fdomain", b"x", server_name=domain, ca=paths["ca"],
                                   headers=dict(request.headers.items()))
        assert status == 403 and b"authenticates with AWS_X509, not AWS_SIGV4" in body, body
        context = ssl.create_default_context(cafile=str(paths["ca"]))
        context.load_cert_chain(str(device.cert), str(device.key))
        context.set_alpn_protocols(["x-amzn-mqtt-ca"])
        with socket.create_connection(("127.0.0.1", server.shared_port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=domain) as sock:
                assert sock.selected_alpn_protocol() == "x-amzn-mqtt-ca"
                sock.sendall(connect_packet(unique("domain-mqtt"), V311))
                try:
                    answer = sock.recv(4)
                except (ConnectionError, ssl.SSLError):
                    answer = b""
                assert answer == b"", "an HTTPS domain does not serve MQTT"
    finally:
        iot("update-domain-configuration", "--domain-configuration-name", name, "--domain-configuration-status", "DISABLED")
        iot("delete-domain-configuration", "--domain-configuration-name", name)


def test_sigv4_websocket_connections_end_after_their_lifetime(portcullis_bin, tmp_path):
    """AWS closes SigV4 WebSocket connections after 24 hours (reference 1.3); here after
    limits.webSocketSigV4Lifetime, lowered to 2 s. A certificate-authenticated one is not limited."""
    srv = Server(portcullis_bin, tmp_path / "ttl", config={"limits": {"webSocketSigV4Lifetime": 2, "connectTimeout": 2}}).start()
    try:
        device = srv.mint("ttl-device")
        key, secret = admin_keys(srv)
        mark = srv.log_mark()
        signed = PahoClient(srv, device, unique("ws-ttl"), V5, certfile=None, keyfile=None, ca=srv.ca_cert,
                            port=srv.shared_port, ws_path=presign(srv, key, secret))
        by_cert = PahoClient(srv, device, unique("ws-ttl-cert"), V5, port=srv.shared_port, ws_path="/mqtt")
        try:
            signed.connect()
            by_cert.connect()
            assert signed.disconnect_reason(timeout=6) == 0xA0, "MQTT 5 DISCONNECT: Maximum connect time"
            entry = srv.wait_log(mark, eventType="Disconnect", status="Failure", reason="WEBSOCKET_TTL_EXPIRATION", clientId=signed.client_id)
            assert "lifetime of 2 s" in entry["details"]
            by_cert.assert_no_message(within=0.5)
            assert by_cert.connected_ok and not by_cert.disconnects
            # A client that finishes TLS and then says nothing is closed after connectTimeout (2 s here),
            # whatever it negotiated.
            for alpn in (None, ["mqtt"], ["x-amzn-http-ca"]):
                context = ssl.create_default_context(cafile=str(srv.ca_cert))
                if alpn:
                    context.set_alpn_protocols(alpn)
                with socket.create_connection(("127.0.0.1", srv.shared_port), timeout=8) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        started = time.monotonic()
                        try:
                            assert tls.recv(1) == b""
                        except (ConnectionError, ssl.SSLError):
                            pass
                        assert time.monotonic() - started < 6, alpn
        finally:
            signed.close()
            by_cert.close()
    finally:
        srv.stop()


def test_a_revoked_certificate_is_refused_on_every_use_of_the_shared_port(server):
    device = server.mint(unique("shared-revoked"))
    iot_client(server).update_certificate(certificateId=device.cert_id, newStatus="REVOKED")
    mark = server.log_mark()
    result = subprocess.run(["curl", "-s", "--cacert", str(server.ca_cert), "--cert", str(device.cert), "--key", str(device.key),
                             "-X", "POST", f"https://localhost:{server.shared_port}/topics/shared%2Frevoked", "--data-binary", "x"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0, "the TLS handshake fails for HTTPS"
    result = subprocess.run([MOSQUITTO_PUB, *shared_tls(server, device, "x-amzn-mqtt-ca"), "-i", unique("revoked"), "-t", "shared/x",
                             "-m", "x"], capture_output=True, timeout=20)
    assert result.returncode != 0, "and for MQTT"
    ws = PahoClient(server, device, unique("ws-revoked"), V5, port=server.shared_port, ws_path="/mqtt")
    try:
        assert not ws.try_connect(), "and for MQTT over WebSocket"
    finally:
        ws.close()
    entry = server.wait_log(mark, eventType="Connect", status="Failure")
    assert "REVOKED" in entry["details"] or "revoked" in entry["details"].lower(), entry["details"]
