"""5. Protocol conformance (reference 4.1): MQTT 3.1 refused, QoS 2 handling, session takeover, malformed
packets."""

from __future__ import annotations

import pytest

from interop_support import (V5, V311, VERSION_IDS, VERSIONS, RawTLSClient, connect_packet, mosquitto_pub,
                             packet, publish_packet, unique)


def test_mqtt31_refused_mosquitto_pub(server, device):
    mark = server.log_mark()
    client_id = unique("v31")
    result = mosquitto_pub(server, device, client_id, unique("proto/v31"), message="x", version="mqttv31")
    assert result.returncode != 0
    assert b"unacceptable protocol version" in result.stderr + result.stdout
    entry = server.wait_log(mark, eventType="Connect", status="Failure", clientId=client_id)
    assert entry["reason"] == "UNSUPPORTED_PROTOCOL_VERSION"


def test_mqtt31_refused_raw_connack_code_1(server, device):
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(unique("v31raw"), 3))
    packets = raw.read_until_closed()
    assert packets == [(2, 0, b"\x00\x01")]  # CONNACK, session present 0, return code 1, then closed
    raw.close()


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_qos2_publish_refused(server, paho, version):
    """Reference 4.1: a publish above the maximum QoS gets DISCONNECT 0x9B (v5); 3.1.1 is closed."""
    topic = unique("proto/qos2")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("qos2", version)
    mark = server.log_mark()
    client.publish(topic, b"exactly once?", qos=2, wait=False)
    reason = client.disconnect_reason()
    if version == V5:
        assert reason == 0x9B
    entry = server.wait_log(mark, eventType="Disconnect", status="Failure", clientId=client.client_id)
    assert entry["reason"] == "QOS_NOT_SUPPORTED"
    paho("marker", V311).publish(topic, b"marker", qos=1)
    assert watcher.wait_message(topic).payload == b"marker"  # the QoS 2 message was not routed


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_qos2_subscribe_granted_qos1(paho, version):
    topic = unique("proto/sub2")
    sub = paho("sub", version)
    assert sub.subscribe(topic, 2) == [1]
    paho("pub", version).publish(topic, b"q1", qos=1)
    assert sub.wait_message(topic).qos == 1


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_qos2_will_refused(server, paho, version):
    """Reference 4.1: a will with QoS 2 gets CONNACK 0x9B (v5). 3.1.1 has no code for it: closed."""
    mark = server.log_mark()
    client = paho("will2", version, connect=False, will={"topic": unique("proto/will2"), "payload": b"x", "qos": 2})
    assert client.try_connect() is False
    if version == V5:
        assert client.connack_reason == 0x9B
    else:
        assert client.connack is None
        assert client.wait_disconnected() is not None
    entry = server.wait_log(mark, eventType="Connect", status="Failure", clientId=client.client_id)
    assert entry["reason"] == "QOS_NOT_SUPPORTED"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_session_takeover(server, paho, version):
    """Reference 4.1: the new connection is accepted and the old one disconnected (v5: DISCONNECT 0x8E);
    the log reason is DUPLICATE_CLIENT_ID."""
    client_id = unique("dup")
    topic = unique("proto/dup")
    first = paho(version=version, client_id=client_id)
    mark = server.log_mark()
    second = paho(version=version, client_id=client_id)
    reason = first.disconnect_reason()
    if version == V5:
        assert reason == 0x8E
    entry = server.wait_log(mark, eventType="Disconnect", status="Failure", clientId=client_id)
    assert entry["reason"] == "DUPLICATE_CLIENT_ID"
    # The new connection works.
    assert second.subscribe(topic, 1) == [1]
    paho("pub", version).publish(topic, b"to the new one", qos=1)
    assert second.wait_message(topic).payload == b"to the new one"
    assert second.connected_ok


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_malformed_packet_after_connect(server, device, paho, version):
    """A PUBLISH whose topic length runs past the packet end: v5 gets DISCONNECT 0x81 (Malformed Packet) and
    is closed; 3.1.1 is closed. Another client is not affected."""
    topic = unique("proto/malformed")
    bystander = paho("bystander", version)
    bystander.subscribe(topic, 1)

    raw = RawTLSClient(server, device)
    client_id = unique("malformed")
    raw.send(connect_packet(client_id, version))
    ptype, _, body = raw.read_packet()
    assert ptype == 2 and body[1] == 0
    mark = server.log_mark()
    raw.send(packet(0x30, b"\x00\x10ab"))  # topic length 16, 2 bytes present
    packets = raw.read_until_closed()
    if version == V5:
        assert len(packets) == 1 and packets[0][0] == 14, packets  # DISCONNECT
        assert packets[0][2][0] == 0x81
    else:
        assert packets == []
    raw.close()
    entry = server.wait_log(mark, eventType="Disconnect", status="Failure", clientId=client_id)
    assert entry["reason"] == "MALFORMED_PACKET"

    paho("pub", version).publish(topic, b"still fine", qos=1)
    assert bystander.wait_message(topic).payload == b"still fine"
    assert bystander.connected_ok


def test_first_packet_must_be_connect(server, device):
    raw = RawTLSClient(server, device)
    raw.send(publish_packet("proto/early", b"x", level=V311))
    assert raw.read_until_closed() == []
    raw.close()
