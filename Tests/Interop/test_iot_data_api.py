"""iot-data on the same port as the control plane (reference 6, 9): boto3's `iot-data` client, told apart by the
service in its signature, publishes (topics percent-encoded, MQTT 5 properties from query and headers, retain)
and reads the retained store; subscribers over MQTT get what it publishes; refusals in AWS's shape.
"""

from __future__ import annotations

import base64
import json

import boto3
import botocore.config
import pytest

from interop_support import V5, admin_keys, aws_error as error_of, endpoint, send_request, unique


@pytest.fixture(scope="module")
def data(server):
    key, secret = admin_keys(server)
    return boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_publish_reaches_mqtt_subscribers_with_its_properties(data, paho):
    topic = unique("http/pub") + "/a b"
    sub = paho("http-sub", V5)
    sub.subscribe(topic, 1)
    answer = data.publish(topic=topic, qos=1, payload=b'{"on": true}', contentType="application/json",
                          responseTopic="replies/here", payloadFormatIndicator="UTF8_DATA",
                          userProperties=[{"source": "http"}], correlationData=base64.b64encode(b"c-1").decode())
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = sub.wait_message(topic)
    assert got.payload == b'{"on": true}' and got.qos == 1
    assert got.prop("ContentType") == "application/json" and got.prop("ResponseTopic") == "replies/here"
    assert got.prop("UserProperty") == [("source", "http")] and got.prop("CorrelationData") == b"c-1"


def test_retained_messages_are_stored_listed_read_and_deleted(data):
    topic = unique("http/retained")
    data.publish(topic=topic, qos=1, retain=True, payload=b"kept")
    message = data.get_retained_message(topic=topic)
    assert message["topic"] == topic and message["payload"] == b"kept" and message["qos"] == 1
    assert message["lastModifiedTime"] > 1_700_000_000_000
    listed = data.list_retained_messages(maxResults=200)["retainedTopics"]
    assert {"topic": topic, "payloadSize": 4, "qos": 1} in [{k: t[k] for k in ("topic", "payloadSize", "qos")} for t in listed]
    data.publish(topic=topic, retain=True, payload=b"")
    assert error_of(lambda: data.get_retained_message(topic=topic)) == ("ResourceNotFoundException", 404)


def test_refusals(data, server):
    assert error_of(lambda: data.publish(topic="$aws/events/presence/connected/x", payload=b"{}")) == ("ForbiddenException", 403)
    assert error_of(lambda: data.publish(topic="bad/+/wildcard", payload=b"x")) == ("InvalidRequestException", 400)
    assert error_of(lambda: data.publish(topic="big", payload=b"x" * (128 * 1024 + 1))) == ("RequestEntityTooLargeException", 413)
    assert error_of(lambda: data.publish(topic="utf", payload=b"\xff\xfe", payloadFormatIndicator="UTF8_DATA")) \
        == ("InvalidRequestException", 400)
    # The control plane's key signs for `iot`: an iot-data path signed that way is no operation of `iot`.
    from botocore.awsrequest import AWSRequest
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials
    key, secret = admin_keys(server)
    request = AWSRequest(method="GET", url=endpoint(server) + "/retainedMessage")
    SigV4Auth(Credentials(key, secret), "iot", "us-east-1").add_auth(request)
    status, headers, body = send_request(server, request)
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException" and body["message"]


def signed(server, method: str, path: str):
    """A request signed for iotdata with the admin key (for the operations this botocore has no method for)."""
    from botocore.awsrequest import AWSRequest
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials
    key, secret = admin_keys(server)
    request = AWSRequest(method=method, url=endpoint(server) + path)
    SigV4Auth(Credentials(key, secret), "iotdata", "us-east-1").add_auth(request)
    return send_request(server, request)


def test_get_connection_and_list_subscriptions(server, paho):
    from urllib.parse import quote
    client_id = unique("conn/api")  # a '/' in the id travels as %2F
    client = paho(client_id, V5, client_id=client_id)
    for topic in ("conn/b", "conn/a/#"):
        client.subscribe(topic, 1)
    status, _, body = signed(server, "GET", f"/connections/{quote(client_id, safe='')}?includeSocketInformation=true")
    assert status == 200, body
    assert body["clientId"] == client_id and body["connected"] is True and body["keepAliveDuration"] > 0
    assert body["sourceIp"] == "127.0.0.1" and body["sourcePort"] > 0 and body["connectedSince"] > 0
    status, _, body = signed(server, "GET", f"/connections/{quote(client_id, safe='')}")
    assert "sourceIp" not in body, "socket information only when asked"
    status, _, page = signed(server, "GET", f"/connections/{quote(client_id, safe='')}/subscriptions?maxResults=1")
    assert status == 200 and page["subscriptions"] == [{"topicFilter": "conn/a/#", "qos": 1}] and page["nextToken"]
    status, _, rest = signed(server, "GET", f"/connections/{quote(client_id, safe='')}/subscriptions?maxResults=1&nextToken={quote(page['nextToken'])}")
    assert rest["subscriptions"] == [{"topicFilter": "conn/b", "qos": 1}] and "nextToken" not in rest
    for path, expected in ((f"/connections/{unique('nobody')}", 404), ("/connections/%24aws", 400),
                           (f"/connections/{quote(client_id, safe='')}/subscriptions?maxResults=0", 400)):
        status, headers, body = signed(server, "GET", path)
        assert status == expected, (path, body)
        assert headers["x-amzn-errortype"] in ("ResourceNotFoundException", "InvalidRequestException") and body["message"]


def test_delete_connection_with_boto3(data, server, paho):
    from urllib.parse import quote
    watcher = paho(unique("watch"), V5)
    will_topic = unique("conn/will")
    watcher.subscribe(will_topic, 1)
    watcher.subscribe("$aws/events/presence/disconnected/+", 1)
    client_id = unique("doomed")
    victim = paho(client_id, V5, client_id=client_id, will={"topic": will_topic, "payload": b"gone", "qos": 1})
    data.delete_connection(clientId=client_id)
    assert victim.disconnect_reason() == 0x98, "MQTT 5 hears Administrative action"
    assert watcher.wait_message(will_topic).payload == b"gone", "the will goes out unless prevented"
    event = json.loads(watcher.wait_message(f"$aws/events/presence/disconnected/{client_id}").payload)
    assert event["disconnectReason"] == "API_INITIATED_DISCONNECT"
    status, _, body = signed(server, "GET", f"/connections/{quote(client_id, safe='')}")
    assert status == 404 or body["connected"] is False

    quiet_id, quiet_topic = unique("quiet"), unique("conn/quiet-will")
    watcher.subscribe(quiet_topic, 1)
    quiet = paho(quiet_id, V5, client_id=quiet_id, will={"topic": quiet_topic, "payload": b"should not", "qos": 1}, clean=False,
                 session_expiry=600)
    data.delete_connection(clientId=quiet_id, preventWillMessage=True)
    assert quiet.disconnect_reason() == 0x98
    watcher.assert_no_message(quiet_topic, within=0.5)
    status, _, body = signed(server, "GET", f"/connections/{quote(quiet_id, safe='')}")
    assert status == 200 and body["connected"] is False and body["disconnectReason"] == "API_INITIATED_DISCONNECT", body
    again = paho(quiet_id, V5, client_id=quiet_id, clean=False, session_expiry=600)
    assert again.session_present, "the persistent session survived"
    data.delete_connection(clientId=quiet_id, cleanSession=True)
    assert signed(server, "GET", f"/connections/{quote(quiet_id, safe='')}")[0] == 404, "cleanSession removed it"
    assert error_of(lambda: data.delete_connection(clientId=unique("absent"))) == ("ResourceNotFoundException", 404)


def test_send_direct_message(server, paho, device):
    from urllib.parse import quote
    receiver_id = unique("direct")
    receiver = paho(receiver_id, V5, client_id=receiver_id)
    bystander = paho(unique("bystander"), V5)
    bystander.subscribe("direct/#", 1)
    path = f"/connections/{quote(receiver_id, safe='')}/messages?topic=direct%2Fcmd"

    def post(query: str, payload: bytes = b"go"):
        from botocore.awsrequest import AWSRequest
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials
        key, secret = admin_keys(server)
        request = AWSRequest(method="POST", url=endpoint(server) + query, data=payload)
        SigV4Auth(Credentials(key, secret), "iotdata", "us-east-1").add_auth(request)
        return send_request(server, request)

    status, _, body = post(path)
    assert status == 200 and body["message"] == "OK" and body["traceId"], body
    message = receiver.wait_message("direct/cmd")
    assert message.payload == b"go" and message.qos == 0, "delivered without a subscription"
    bystander.assert_no_message("direct/cmd", within=0.5)
    status, _, body = post(path + "&confirmation=true&timeout=5", b"ack me")
    assert status == 200, body
    assert receiver.wait_message("direct/cmd", predicate=lambda m: m.payload == b"ack me").qos == 1

    # A client that never acknowledges: 504 after the timeout.
    import socket, ssl as ssl_module
    from interop_support import connect_packet
    silent_id = unique("silent")
    ctx = ssl_module.create_default_context(cafile=str(device.ca))
    ctx.load_cert_chain(str(device.cert), str(device.key))
    raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost")
    try:
        raw.sendall(connect_packet(silent_id, V5))
        assert raw.recv(4)[:1] == b"\x20"
        status, headers, body = post(f"/connections/{silent_id}/messages?topic=direct%2Fcmd&confirmation=true&timeout=1")
        assert status == 504 and headers["x-amzn-errortype"] == "GatewayTimeoutException", body
    finally:
        raw.close()
    for query, expected in ((f"/connections/{unique('absent')}/messages?topic=t", 404),
                            (path.replace("direct%2Fcmd", "%24aws%2Fx"), 400),
                            (f"/connections/{quote(receiver_id, safe='')}/messages", 400),
                            (path + "&timeout=99", 400)):
        status, _, body = post(query)
        assert status == expected, (query, body)
