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
    assert error_of(lambda: data.publish(topic="$aws/things/x/shadow/update", payload=b"{}")) == ("ForbiddenException", 403)
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
