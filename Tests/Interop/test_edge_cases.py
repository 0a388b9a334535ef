"""Edge cases around sections 4.1-4.9 that the numbered areas do not cover: keep alive timeout, client
flow control, QoS 1 redelivery, DISCONNECT session-expiry rules, `$` topics and wildcards, reserved client
ids, takeover wills. Byte-level cases use a raw TLS socket; the rest paho."""

from __future__ import annotations

import json
import time

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from interop_support import (PINGREQ, V5, V311, VERSION_IDS, VERSIONS, RawTLSClient, connect_packet,
                             disconnect_packet, parse_publish, prop_four_byte, prop_two_byte,
                             puback_packet, publish_packet, subscribe_packet, unique)


def raw_connect(server, device, client_id, level=V5, **kwargs) -> tuple[RawTLSClient, bytes]:
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(client_id, level, **kwargs))
    p = raw.read_packet()
    assert p is not None and p[0] == 2, p
    return raw, p[2]


# -- keep alive --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_keep_alive_timeout(limits_server, paho, version):
    """Keep alive 1 s (limits_server allows it): silent for 1.5 x 1 s -> v5 DISCONNECT 0x8D, 3.1.1 closed;
    log and lifecycle reason MQTT_KEEP_ALIVE_TIMEOUT; the will is published."""
    srv = limits_server
    dev = srv.mint("interop-device")
    topic = unique("edge/keepalive")
    watcher = paho("watcher", V5, srv=srv)
    watcher.subscribe([topic, "$aws/events/presence/disconnected/+"], 1)
    client_id = unique("silent")
    mark = srv.log_mark()
    raw, connack = raw_connect(srv, dev, client_id, version, keepalive=1, will_topic=topic, will_payload=b"timed out")
    started = time.monotonic()
    packets = raw.read_until_closed(timeout=6)
    elapsed = time.monotonic() - started
    raw.close()
    if version == V5:
        assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x8d")]
    else:
        assert packets == []
    assert elapsed >= 1.4, elapsed
    entry = srv.wait_log(mark, eventType="Disconnect", status="Failure", clientId=client_id)
    assert entry["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
    assert watcher.wait_message(topic).payload == b"timed out"
    event = json.loads(watcher.wait_message(f"$aws/events/presence/disconnected/{client_id}").payload)
    assert event["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"


def test_pingreq_keeps_connection_alive(limits_server):
    srv = limits_server
    raw, _ = raw_connect(srv, srv.mint("interop-device"), unique("pinger"), V311, keepalive=1)
    for _ in range(6):  # 3 s, twice the 1.5 s timeout
        time.sleep(0.5)
        raw.send(PINGREQ)
        assert raw.read_packet(timeout=2) == (13, 0, b"")  # PINGRESP
    raw.send(disconnect_packet(V311))
    raw.close()


# -- flow control and redelivery -----------------------------------------------------------------------------

def test_client_receive_maximum_respected(server, device, paho):
    """Spec 3.3.4: no more unacknowledged QoS 1 PUBLISHes than the client's Receive Maximum."""
    topic = unique("edge/recvmax")
    raw, _ = raw_connect(server, device, unique("recvmax"), V5, properties=prop_two_byte(0x21, 2))
    raw.send(subscribe_packet(1, [(topic, 1)]))
    assert raw.read_packet()[0] == 9
    pub = paho("pub", V311)
    for i in range(5):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    first = [parse_publish(*raw.read_packet()[1:]) for _ in range(2)]
    assert [p["payload"] for p in first] == [b"m0", b"m1"]
    with pytest.raises(TimeoutError):
        raw.read_packet(timeout=0.5)  # window full
    raw.send(puback_packet(first[0]["packet_id"]))
    third = parse_publish(*raw.read_packet()[1:])
    assert third["payload"] == b"m2"
    raw.send(puback_packet(first[1]["packet_id"]) + puback_packet(third["packet_id"]))
    rest = [parse_publish(*raw.read_packet()[1:]) for _ in range(2)]
    assert [p["payload"] for p in rest] == [b"m3", b"m4"]
    raw.close()


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_unacknowledged_qos1_redelivered_on_resume(server, device, paho, version):
    """Spec 4.4: on a resumed session unacknowledged PUBLISHes are re-sent with their packet identifier and
    DUP=1. (AWS documents that it does not set DUP; Portcullis follows the spec.)"""
    client_id = unique("redeliver")
    topic = unique("edge/redeliver")
    props = prop_four_byte(0x11, 300) if version == V5 else b""
    raw, _ = raw_connect(server, device, client_id, version, clean=False, properties=props)
    raw.send(subscribe_packet(1, [(topic, 1)], version))
    assert raw.read_packet()[0] == 9
    paho("pub", V311).publish(topic, b"ack me", qos=1)
    original = parse_publish(*raw.read_packet()[1:], level=version)
    assert original["payload"] == b"ack me" and not original["dup"]
    raw.abort()  # no PUBACK

    raw, connack = raw_connect(server, device, client_id, version, clean=False, properties=props)
    assert connack[0] == 1  # session present
    again = parse_publish(*raw.read_packet()[1:], level=version)
    assert (again["payload"], again["packet_id"], again["dup"]) == (b"ack me", original["packet_id"], True)
    raw.send(puback_packet(again["packet_id"]))
    raw.send(disconnect_packet(version, properties=prop_four_byte(0x11, 0) if version == V5 else b""))
    raw.close()
    if version == V311:
        paho(version=V311, client_id=client_id).disconnect()


# -- DISCONNECT and session expiry ---------------------------------------------------------------------------

def test_disconnect_cannot_set_session_expiry_after_zero(server, device, paho):
    """Spec 3.14.2.2.2: CONNECT had Session Expiry 0, DISCONNECT sets 60 -> not a valid DISCONNECT: the
    server answers DISCONNECT 0x82 (Protocol Error) and, the disconnect being invalid, publishes the will."""
    topic = unique("edge/disc-expiry")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client_id = unique("disc-expiry")
    mark = server.log_mark()
    raw, _ = raw_connect(server, device, client_id, V5, will_topic=topic, will_payload=b"invalid disconnect")
    raw.send(disconnect_packet(V5, 0, prop_four_byte(0x11, 60)))
    packets = raw.read_until_closed()
    raw.close()
    assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x82")]
    assert server.wait_log(mark, eventType="Disconnect", clientId=client_id)["reason"] == "PROTOCOL_ERROR"
    assert watcher.wait_message(topic).payload == b"invalid disconnect"


def test_disconnect_session_expiry_zero_ends_session(paho):
    client_id = unique("end-on-disc")
    first = paho(version=V5, client_id=client_id, clean=False, session_expiry=300)
    first.subscribe(unique("edge/x"), 1)
    first.disconnect(properties={"SessionExpiryInterval": 0})
    second = paho(version=V5, client_id=client_id, clean=False, session_expiry=0)
    assert second.session_present is False


# -- session takeover and wills ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_will_published_on_session_takeover(paho, version):
    """Reference 4.5: the will goes out on any disconnect the client did not ask for, takeover included."""
    topic = unique("edge/takeover-will")
    watcher = paho("watcher", V5)
    watcher.subscribe(topic, 1)
    client_id = unique("taken")
    first = paho(version=version, client_id=client_id, will={"topic": topic, "payload": b"taken over", "qos": 1})
    paho(version=version, client_id=client_id)
    first.wait_disconnected()
    assert watcher.wait_message(topic).payload == b"taken over"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_will_to_reserved_topic_refused(server, paho, version):
    client = paho("aws-will", version, connect=False,
                  will={"topic": "$aws/things/x/shadow/update", "payload": b"{}", "qos": 1})
    assert client.try_connect() is False
    assert client.connack_reason == 0x87  # v5 Not authorized; 3.1.1 code 5, which paho reports as 0x87


# -- topics ------------------------------------------------------------------------------------------------------

def test_leading_wildcards_do_not_match_dollar_topics(paho):
    """Spec 4.7.2: '#' and '+/...' do not match topics starting with '$' (the lifecycle events here)."""
    everything = paho("everything", V5)
    everything.subscribe(["#", "+/#", "+/events/presence/+/+"], 0)
    explicit = paho("explicit", V5)
    explicit.subscribe("$aws/events/presence/connected/+", 0)
    client_id = unique("visible")
    paho(version=V311, client_id=client_id).disconnect()
    explicit.wait_message(f"$aws/events/presence/connected/{client_id}")
    marker = unique("edge/marker")
    paho("marker", V311).publish(marker, b"m", qos=1)
    everything.wait_message(marker)
    assert [m.topic for m in everything.received() if m.topic.startswith("$")] == []


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_multilevel_wildcard_matches_parent_level(paho, version):
    """MQTT spec 4.7.1.2: 'sport/#' matches 'sport'. AWS (reference 4.1) does NOT match the parent; Portcullis
    deliberately follows the spec (Topic.matches documents it). This test pins the current behaviour."""
    prefix = unique("edge/parent")
    sub = paho("sub", version)
    sub.subscribe(f"{prefix}/#", 1)
    pub = paho("pub", version)
    pub.publish(prefix, b"parent", qos=1)
    pub.publish(f"{prefix}/", b"empty child", qos=1)
    pub.publish(f"{prefix}/a/b", b"grandchild", qos=1)
    assert [m.payload for m in sub.wait_messages(3)] == [b"parent", b"empty child", b"grandchild"]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_overlapping_subscriptions_one_copy_at_highest_qos(paho, version):
    prefix = unique("edge/overlap")
    sub = paho("sub", version)
    assert sub.subscribe([(f"{prefix}/#", 0), (f"{prefix}/a", 1)]) == [0, 1]
    pub = paho("pub", version)
    pub.publish(f"{prefix}/a", b"once", qos=1)
    pub.publish(f"{prefix}/marker", b"marker", qos=1)
    sub.wait_message(f"{prefix}/marker")
    assert [(m.payload, m.qos) for m in sub.received(f"{prefix}/a")] == [(b"once", 1)]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_qos_downgraded_to_subscription(paho, version):
    topic = unique("edge/downgrade")
    sub = paho("sub", version)
    sub.subscribe(topic, 0)
    paho("pub", version).publish(topic, b"q1", qos=1)
    assert sub.wait_message(topic).qos == 0


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_unsubscribe_stops_delivery(paho, version):
    topic = unique("edge/unsub")
    sub = paho("sub", version)
    sub.subscribe(topic, 1)
    codes = sub.unsubscribe([topic, unique("edge/never")])
    if version == V5:
        assert codes == [0x00, 0x11]  # Success, No subscription existed
    pub = paho("pub", version)
    pub.publish(topic, b"after unsubscribe", qos=1)
    sub.subscribe(f"{topic}/marker", 1)
    pub.publish(f"{topic}/marker", b"marker", qos=1)
    sub.wait_message(f"{topic}/marker")
    assert sub.received(topic) == []


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_invalid_shared_subscription_filters_refused(paho, version):
    bad = {V5: 0x8F, V311: 0x80}[version]
    sub = paho("sub", version)
    too_long_share = "$share/" + "g" * 129 + "/t"  # reference 4.7: share name at most 128 characters
    assert sub.subscribe(["$share/g", "$share//t", too_long_share], 1) == [bad] * 3
    assert sub.subscribe("$share/" + "g" * 128 + "/t", 1) == [1]
    assert sub.connected_ok


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_invalid_filters_refused_raw(server, device, version):
    """Filters paho will not even send: '#' not last, '+' not a whole level."""
    raw, _ = raw_connect(server, device, unique("badfilter"), version)
    raw.send(subscribe_packet(3, [("edge/#/b", 1), ("edge/a+", 1), ("$share/g/a/#/b", 1),
                                  ("$share/g+/t", 1), ("edge/ok", 1)], version))
    p = raw.read_packet()
    raw.close()
    assert p is not None and p[0] == 9, p
    codes = p[2][2:] if version == V311 else p[2][2 + 1 + p[2][2]:]
    bad = {V5: 0x8F, V311: 0x80}[version]
    assert list(codes) == [bad, bad, bad, bad, 1]


def test_subscription_identifier_on_retained_delivery(paho):
    topic = unique("edge/subid-retained")
    paho("pub", V5).publish(topic, b"kept", qos=1, retain=True)
    sub = paho("sub", V5)
    sub.subscribe(topic, 1, subscription_id=42)
    msg = sub.wait_message(topic)
    assert msg.retain and msg.prop("SubscriptionIdentifier") == [42]


# -- topic aliases ---------------------------------------------------------------------------------------------

def test_topic_alias_zero_refused(server, device):
    """Spec 3.3.2.3.4: Topic Alias 0 is not permitted (paho refuses to send it: raw socket)."""
    raw, _ = raw_connect(server, device, unique("alias0"), V5)
    raw.send(publish_packet(unique("edge/alias0"), b"x", qos=1, properties=prop_two_byte(0x23, 0)))
    packets = raw.read_until_closed()
    raw.close()
    assert len(packets) == 1 and packets[0][0] == 14 and packets[0][2][0] in (0x82, 0x94), packets


def test_unmapped_topic_alias_refused(paho):
    client = paho("alias-unmapped", V5)
    client.publish("", b"x", qos=1, properties={"TopicAlias": 5}, wait=False)
    assert client.disconnect_reason() in (0x82, 0x94)


# -- client ids ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_client_id_starting_with_dollar_refused(paho, version):
    """Reference 4.2: a leading '$' is reserved."""
    client = paho(version=version, client_id=unique("$reserved"), connect=False)
    assert client.try_connect() is False
    assert client.connack_reason == 0x85


def test_v311_empty_client_id_needs_clean_session(server, device):
    raw = RawTLSClient(server, device)
    raw.send(connect_packet("", V311, clean=False))
    assert raw.read_until_closed() == [(2, 0, b"\x00\x02")]
    raw.close()


def test_aws_sdk_metrics_username_ignored(paho):
    """Reference 4.2: SDKs send '?SDK=...&Version=...' as the username even with X.509; it is ignored."""
    client = paho("sdk", V5, connect=False)
    client.client.username_pw_set("?SDK=Python&Version=1.0.0&Platform=interop")
    client.connect()
    assert client.connack_reason == 0


def test_second_connect_is_protocol_error(server, device):
    client_id = unique("twice")
    raw, _ = raw_connect(server, device, client_id, V5)
    raw.send(connect_packet(client_id, V5))
    packets = raw.read_until_closed()
    raw.close()
    assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x82")]


def test_wildcard_client_id_gets_no_lifecycle_events(paho):
    """Reference 4.2/4.9: client ids containing '#' or '+' get no lifecycle events."""
    watcher = paho("watcher", V5)
    watcher.subscribe("$aws/events/presence/+/+", 1)
    odd = unique("odd#id")
    paho(version=V5, client_id=odd).disconnect()
    normal = unique("normal")
    paho(version=V5, client_id=normal).disconnect()
    watcher.wait_message(f"$aws/events/presence/disconnected/{normal}")
    assert [m for m in watcher.received() if odd in m.topic or odd.encode() in m.payload] == []


# -- shared subscriptions and sessions -----------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_shared_group_member_leaving_hands_over(paho, version):
    """A clean-session member leaves the group at disconnect (reference 4.7): the rest get everything."""
    topic = unique("edge/share-leave")
    stays = paho("stays", version)
    leaves = paho("leaves", version)
    for m in (stays, leaves):
        m.subscribe(f"$share/g/{topic}", 1)
    leaves.disconnect()
    pub = paho("pub", version)
    for i in range(4):
        pub.publish(topic, f"s{i}".encode(), qos=1)
    assert [m.payload for m in stays.wait_messages(4, topic)] == [b"s0", b"s1", b"s2", b"s3"]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_shared_group_queues_for_offline_persistent_member(paho, version):
    """Reference 4.7: with no member online, QoS 1 messages are queued for a persistent member."""
    topic = unique("edge/share-queue")
    client_id = unique("share-persist")
    persistent = {"clean": False, "session_expiry": 300} if version == V5 else {"clean": False}
    member = paho(version=version, client_id=client_id, **persistent)
    member.subscribe(f"$share/g/{topic}", 1)
    member.disconnect()
    pub = paho("pub", version)
    for i in range(3):
        pub.publish(topic, f"held{i}".encode(), qos=1)
    back = paho(version=version, client_id=client_id, **persistent)
    assert back.session_present
    assert [m.payload for m in back.wait_messages(3, topic)] == [b"held0", b"held1", b"held2"]
    back.disconnect()
    paho(version=version, client_id=client_id).disconnect()


def test_no_local_on_shared_subscription_is_protocol_error(paho):
    """Spec 3.8.3.1: No Local on a shared subscription is a Protocol Error (DISCONNECT 0x82)."""
    client = paho("share-nolocal", V5)
    client.client.subscribe(f"$share/g/{unique('edge/snl')}", options=SubscribeOptions(qos=1, noLocal=True))
    assert client.disconnect_reason() == 0x82


def test_takeover_with_clean_start_0_resumes_session(paho):
    client_id = unique("takeover-resume")
    topic = unique("edge/takeover-resume")
    first = paho(version=V5, client_id=client_id, clean=False, session_expiry=300)
    first.subscribe(topic, 1)
    second = paho(version=V5, client_id=client_id, clean=False, session_expiry=300)
    assert first.disconnect_reason() == 0x8E
    assert second.session_present is True
    paho("pub", V311).publish(topic, b"to the resumed session", qos=1)
    assert second.wait_message(topic).payload == b"to the resumed session"
    second.disconnect(properties={"SessionExpiryInterval": 0})


# -- sizes -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_packet_over_maximum_packet_size_refused(server, paho, version):
    """A 200 KiB PUBLISH exceeds the announced Maximum Packet Size (146 KiB): v5 DISCONNECT 0x95."""
    client = paho("huge", version)
    client.publish(unique("edge/huge"), b"h" * (200 * 1024), qos=1, wait=False)
    reason = client.disconnect_reason(timeout=10)
    if version == V5:
        assert reason == 0x95


def test_empty_topic_without_alias_refused_v5(server, device):
    """Spec 3.3.2.1: a zero-length topic without a Topic Alias is a Protocol Error; AWS would answer PUBACK
    0x90 Topic Name invalid. Either way the message must not be accepted."""
    raw, _ = raw_connect(server, device, unique("emptytopic"), V5)
    raw.send(publish_packet("", b"x", qos=1, packet_id=9))
    p = raw.read_packet()
    raw.close()
    assert p is not None
    assert (p[0] == 4 and p[2][2] in (0x82, 0x90)) or (p[0] == 14 and p[2][0] in (0x81, 0x82)), p


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_topic_with_nul_character_is_malformed(server, device, version):
    """Spec 1.5.4: UTF-8 strings must not contain U+0000; the packet is malformed (v5 DISCONNECT 0x81)."""
    raw, _ = raw_connect(server, device, unique("nul"), version)
    raw.send(publish_packet("edge/a\x00b", b"x", qos=1, level=version))
    packets = raw.read_until_closed()
    raw.close()
    if version == V5:
        assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x81")]
    else:
        assert packets == []
