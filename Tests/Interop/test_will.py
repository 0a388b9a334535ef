"""3. Last Will and Testament (reference 4.5, MQTT 5 3.1.2.5 / 3.1.3.2.2)."""

from __future__ import annotations

import signal
import time

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, RawTLSClient, connect_packet, unique


def will(topic, payload=b"gone", qos=1, **extra):
    return {"topic": topic, "payload": payload, "qos": qos, **extra}


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_will_published_when_paho_connection_drops(paho, version):
    topic = unique("will/paho")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("dying", version, will=will(topic, b"paho died"))
    client.kill()
    msg = watcher.wait_message(topic)
    assert (msg.payload, msg.qos, msg.retain) == (b"paho died", 1, False)


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_will_published_when_mosquitto_sub_is_killed(server, paho, mosquitto_sub, version):
    topic = unique("will/mosq")
    watcher = paho("watcher", V311)
    watcher.subscribe(topic, 1)
    sub = mosquitto_sub(unique("msub"), unique("will/idle"), qos=1, version=version,
                        extra=["--will-topic", topic, "--will-payload", "mosquitto died", "--will-qos", "1"])
    sub.wait_subscribed()
    sub.kill(signal.SIGKILL)
    msg = watcher.wait_message(topic)
    assert msg.payload == b"mosquitto died"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_will_published_when_raw_tls_socket_is_closed(server, device, paho, version):
    topic = unique("will/raw")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(unique("raw"), version, will_topic=topic, will_payload=b"raw died", will_qos=1))
    ptype, _, body = raw.read_packet()
    assert ptype == 2 and body[1] == 0  # CONNACK, accepted
    raw.abort()
    assert watcher.wait_message(topic).payload == b"raw died"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_no_will_after_normal_disconnect(server, paho, version):
    topic = unique("will/normal")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("polite", version, will=will(topic, b"should not appear"))
    mark = server.log_mark()
    client.disconnect()
    server.wait_log(mark, eventType="Disconnect", status="Success", clientId=client.client_id)
    paho("marker", V311).publish(topic, b"marker", qos=1)
    assert watcher.wait_message(topic).payload == b"marker"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_retained_will(paho, version):
    topic = unique("will/retained")
    client = paho("dying", version, will=will(topic, b"last words", retain=True))
    client.kill()
    late = paho("late", version)
    late.subscribe(topic, 1)
    msg = late.wait_message(topic)
    assert (msg.payload, msg.retain) == (b"last words", True)


def test_v5_will_delay_interval(paho):
    """Will Delay Interval 2 s with a session that outlives it: not before ~2 s, then delivered."""
    topic = unique("will/delay")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("delayed", V5, session_expiry=60,
                  will=will(topic, b"late will", properties={"WillDelayInterval": 2}))
    client.kill()
    dropped_at = time.monotonic()
    watcher.assert_no_message(topic, within=1.5)
    msg = watcher.wait_message(topic, timeout=5)
    assert msg.payload == b"late will"
    assert msg.at - dropped_at >= 1.8


def test_v5_will_delay_cancelled_by_reconnect(paho):
    """Reconnecting with Clean Start 0 before the delay ends resumes the session: no will (spec 3.1.3.2.2)."""
    topic = unique("will/cancel")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client_id = unique("delayed")
    first = paho(version=V5, client_id=client_id, session_expiry=60,
                 will=will(topic, b"must not appear", properties={"WillDelayInterval": 2}))
    first.kill()
    second = paho(version=V5, client_id=client_id, clean=False, session_expiry=60)
    assert second.session_present is True
    watcher.assert_no_message(topic, within=3.0)
    second.disconnect()


def test_v5_will_delay_capped_by_session_expiry(paho):
    """The will is published when the session ends if that is earlier than the delay (spec 3.1.2.5):
    with Session Expiry 0 it goes out at once."""
    topic = unique("will/capped")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("capped", V5, will=will(topic, b"now", properties={"WillDelayInterval": 30}))
    client.kill()
    assert watcher.wait_message(topic, timeout=3).payload == b"now"


def test_v5_disconnect_with_will_message(server, paho):
    """DISCONNECT reason 0x04 (Disconnect with Will Message) publishes the will (spec; UNCONFIRMED on AWS)."""
    topic = unique("will/0x04")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client = paho("with-will", V5, will=will(topic, b"asked for it"))
    client.disconnect(reasoncode=0x04)
    assert watcher.wait_message(topic).payload == b"asked for it"


def test_v5_will_properties_passed_through(paho):
    topic = unique("will/props")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    props = {"ContentType": "text/x-will", "UserProperty": [("why", "crash"), ("n", "1")], "ResponseTopic": "r/t",
             "CorrelationData": b"cd", "MessageExpiryInterval": 30, "PayloadFormatIndicator": 1}
    paho("props", V5, will=will(topic, "adiós", properties=props)).kill()
    msg = watcher.wait_message(topic)
    assert msg.payload == "adiós".encode()
    assert msg.prop("ContentType") == "text/x-will"
    assert msg.prop("UserProperty") == [("why", "crash"), ("n", "1")]
    assert (msg.prop("ResponseTopic"), msg.prop("CorrelationData")) == ("r/t", b"cd")
    assert msg.prop("PayloadFormatIndicator") == 1
    assert 28 <= msg.prop("MessageExpiryInterval") <= 30


def test_v5_will_payload_declared_utf8_but_not_refused(server, device):
    """Spec 3.1.3.2.3: Payload Format Indicator 1 with a non-UTF-8 will payload -> CONNACK 0x99. (paho 2.1
    cannot parse a CONNACK with 0x99 and its thread dies, so this uses a raw socket.)"""
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(unique("badwill"), V5, will_topic=unique("will/bad"), will_payload=b"\xff\xfe",
                            will_qos=1, will_properties=b"\x01\x01"))
    packets = raw.read_until_closed()
    raw.close()
    assert len(packets) == 1 and packets[0][0] == 2 and packets[0][2][1] == 0x99, packets
