"""1. Connect with a minted certificate; QoS 0/1 publish-subscribe between paho and mosquitto clients;
payload integrity; the 128 KiB payload limit (reference 4.1, 4.10)."""

from __future__ import annotations

import os
import re

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, mosquitto_pub, unique

MAX_PAYLOAD = 128 * 1024

BINARY = bytes(range(256)) * 4          # every byte value, including NUL and invalid UTF-8
LARGE = os.urandom(MAX_PAYLOAD)        # exactly the limit: accepted


def payloads():
    return [b"hello interop", BINARY, b"", LARGE]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_connect_with_minted_certificate(server, device, paho, version):
    mark = server.log_mark()
    client = paho("connect", version)
    assert client.connack_reason == 0
    assert client.session_present is False
    entry = server.wait_log(mark, eventType="Connect", status="Success", clientId=client.client_id)
    assert entry["principalId"] == device.cert_id
    assert entry["protocol"] == "MQTT"
    assert entry["sourceIp"] == "127.0.0.1"
    client.disconnect()
    server.wait_log(mark, eventType="Disconnect", status="Success", clientId=client.client_id)


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_paho_to_paho(paho, version, qos):
    topic = unique("pubsub/paho")
    sub = paho("sub", version)
    assert sub.subscribe(topic, qos) == [qos]
    pub = paho("pub", version)
    for payload in payloads():
        assert pub.publish(topic, payload, qos=qos) == 0
    got = sub.wait_messages(len(payloads()), topic, timeout=10)
    assert [m.payload for m in got] == payloads()
    assert all(m.qos == qos and m.retain is False for m in got)


@pytest.mark.parametrize("sub_version,pub_version", [(V311, V5), (V5, V311)], ids=["v5-to-v311", "v311-to-v5"])
def test_messages_cross_protocol_versions(paho, sub_version, pub_version):
    """Reference 4.1: messages cross between MQTT 3.1.1 and 5."""
    topic = unique("pubsub/cross")
    sub = paho("sub", sub_version)
    sub.subscribe(topic, 1)
    pub = paho("pub", pub_version)
    props = {"UserProperty": [("k", "v")], "ContentType": "text/plain"} if pub_version == V5 else None
    assert pub.publish(topic, BINARY, qos=1, properties=props) == 0
    msg = sub.wait_message(topic)
    assert msg.payload == BINARY and msg.qos == 1


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_mosquitto_pub_to_paho(server, device, paho, tmp_path, version, qos):
    topic = unique("pubsub/mosq")
    sub = paho("sub", version)
    sub.subscribe(topic, qos)
    files = [("text", b"from mosquitto_pub"), ("binary", BINARY), ("large", LARGE)]
    for name, data in files:
        path = tmp_path / name
        path.write_bytes(data)
        result = mosquitto_pub(server, device, unique("mpub"), topic, file=path, qos=qos, version=version)
        assert result.returncode == 0, result.stderr
    got = sub.wait_messages(len(files), topic, timeout=10)
    assert [m.payload for m in got] == [d for _, d in files]
    assert all(m.qos == qos for m in got)


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_paho_to_mosquitto_sub(paho, mosquitto_sub, version, qos):
    topic = unique("pubsub/msub")
    sent = [b"to mosquitto_sub", BINARY, LARGE]
    sub = mosquitto_sub(unique("msub"), topic, qos=qos, version=version, count=len(sent), fmt="%t|%q|%r|%x")
    sub.wait_subscribed()
    pub = paho("pub", version)
    for payload in sent:
        assert pub.publish(topic, payload, qos=qos) == 0
    rc, out, err = sub.finish()
    assert rc == 0, err
    lines = out.decode().splitlines()
    assert len(lines) == len(sent)
    for line, payload in zip(lines, sent):
        t, q, r, hexpayload = line.split("|")
        assert (t, int(q), int(r)) == (topic, qos, 0)
        assert bytes.fromhex(hexpayload) == payload


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_payload_over_128_kib_refused(server, paho, version):
    """Reference 4.10: payload per PUBLISH 128 KB, larger is rejected. v5 gets DISCONNECT 0x95 (Packet too
    large); 3.1.1 has no way to say it and is closed. Other clients carry on."""
    topic = unique("pubsub/big")
    bystander = paho("bystander", V5 if version == V311 else V311)
    bystander.subscribe(topic, 1)
    offender = paho("offender", version)
    mark = server.log_mark()
    offender.publish(topic, os.urandom(MAX_PAYLOAD + 1), qos=1, wait=False)
    reason = offender.disconnect_reason(timeout=10)
    if version == V5:
        assert reason == 0x95
    entry = server.wait_log(mark, eventType="Disconnect", status="Failure", clientId=offender.client_id)
    assert entry["reason"] == "PACKET_TOO_LARGE"
    # The bystander is still connected and still gets messages; the oversized one never reached it.
    other = paho("other", version)
    assert other.publish(topic, b"after", qos=1) == 0
    assert bystander.wait_message(topic).payload == b"after"
    assert [m.payload for m in bystander.received(topic)] == [b"after"]
    assert bystander.connected_ok


def test_iot_log_entries_for_a_publish(server, paho):
    """Reference 7.2: JSON log lines in the AWS IoT format; Publish-In carries retain "True" only when set."""
    topic = unique("pubsub/log")
    sub = paho("sub", V5)
    sub.subscribe(topic, 1)
    pub = paho("pub", V311)
    mark = server.log_mark()
    pub.publish(topic, b"plain", qos=1)
    pub.publish(topic, b"kept", qos=1, retain=True)
    sub.wait_messages(2, topic)
    pub.publish(topic, b"", qos=1, retain=True)
    entries = server.find_log(mark, eventType="Publish-In", clientId=pub.client_id)
    assert [e.get("retain") for e in entries[:2]] == [None, "True"]
    for e in entries:
        assert e["status"] == "Success" and e["topicName"] == topic and e["protocol"] == "MQTT"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", e["timestamp"])
        assert e["accountId"] == "123456789012" and e["traceId"] and e["logLevel"] == "DEBUG"
    out = server.wait_log(mark, eventType="Publish-Out", clientId=sub.client_id)
    assert out["topicName"] == topic and out["status"] == "Success"
