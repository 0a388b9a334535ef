"""MQTT rules a strict client or a conformance corpus checks first (issue 16, MQTT 3.1.1 and 5.0, reference
4.1 and 4.8): wildcards in a PUBLISH topic, zero-length filters in 3.1.1, the client's Maximum Packet Size on
CONNACK / SUBACK / DISCONNECT, PUBACKs for unknown packet ids, and control characters in client ids, user
names, topic names and filters. Byte-level cases use a raw TLS socket, since paho refuses to send them."""

from __future__ import annotations

import boto3
import botocore.config
import pytest

from interop_support import (PINGREQ, V5, V311, VERSION_IDS, VERSIONS, RawTLSClient, admin_keys, aws_error,
                             connect_packet, endpoint, parse_properties, prop_four_byte, prop_two_byte, publish_packet,
                             puback_packet, subscribe_packet, unique, unsubscribe_packet)

REASON_STRING = 0x1F
MAXIMUM_PACKET_SIZE = 0x27


def raw_session(server, device, client_id, level=V5, **kwargs) -> RawTLSClient:
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(client_id, level, **kwargs))
    p = raw.read_packet()
    assert p is not None and p[0] == 2 and p[2][1] == 0, p
    return raw


def connack_of(server, device, level, **kwargs) -> tuple[list, RawTLSClient]:
    """Packets until close (or the first one if the connection stays open) after a CONNECT."""
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(kwargs.pop("client_id", unique("cc")), level, **kwargs))
    return raw.read_until_closed(), raw


def wire_size(p) -> int:
    body = len(p[2])
    return 1 + (1 if body < 128 else 2 if body < 16384 else 3) + body


# -- [MQTT-3.3.2-2]: a topic name with wildcards is malformed ---------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
@pytest.mark.parametrize("topic", ["conf/+/bad", "conf/#", "conf/a+b"], ids=["plus", "hash", "inner-plus"])
@pytest.mark.parametrize("qos", [0, 1])
def test_publish_with_wildcard_topic_closes_the_connection(server, device, version, topic, qos):
    """Both versions are closed; MQTT 5 hears DISCONNECT 0x90 Topic Name invalid first. Nothing is routed."""
    watcher = raw_session(server, device, unique("wild-watch"), V5)
    watcher.send(subscribe_packet(1, [("conf/#", 1)]))
    assert watcher.read_packet()[0] == 9
    mark = server.log_mark()
    client_id = unique("wildpub")
    raw = raw_session(server, device, client_id, version)
    raw.send(publish_packet(topic, b"x", qos=qos, packet_id=7, level=version))
    packets = raw.read_until_closed()
    raw.close()
    if version == V5:
        assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x90")], packets
    else:
        assert packets == []
    entry = server.wait_log(mark, eventType="Publish-In", clientId=client_id, status="Failure")
    assert entry["reason"] == "TOPIC_NAME_INVALID" and entry["topicName"] == topic
    server.wait_log(mark, eventType="Disconnect", clientId=client_id)
    watcher.send(PINGREQ)
    assert watcher.read_packet()[0] == 13  # PINGRESP, and no PUBLISH before it
    watcher.close()


# -- [MQTT-4.7.3-1]: zero-length topic filters ------------------------------------------------------------

def test_v311_subscribe_with_zero_length_filter_is_malformed(server, device):
    raw = raw_session(server, device, unique("empty-sub"), V311)
    raw.send(subscribe_packet(3, [("conf/ok", 1), ("", 1)], V311))
    assert raw.read_until_closed() == []  # no SUBACK: the packet is malformed, the connection closed


def test_v311_unsubscribe_with_zero_length_filter_is_malformed(server, device):
    raw = raw_session(server, device, unique("empty-unsub"), V311)
    raw.send(unsubscribe_packet(4, [""], V311))
    assert raw.read_until_closed() == []


def test_v5_zero_length_filter_is_refused_per_filter(server, device):
    """MQTT 5 can say which filter it refuses: SUBACK 0x8F for the empty one, the other granted."""
    raw = raw_session(server, device, unique("empty-sub5"), V5)
    raw.send(subscribe_packet(3, [("conf/ok", 1), ("", 1)]))
    p = raw.read_packet()
    assert p[0] == 9
    _, pos = parse_properties(p[2], 2)
    assert list(p[2][pos:]) == [1, 0x8F]
    raw.send(PINGREQ)
    assert raw.read_packet()[0] == 13
    raw.close()


# -- [MQTT-3.1.2-24/25], [MQTT-3.2.2-19/20]: the client's Maximum Packet Size -------------------------------

def test_refused_connack_drops_its_reason_string_to_fit(server, device):
    """A '$' client id is refused with 0x85 and a reason string; a client allowing only 16 bytes gets the
    CONNACK without it."""
    packets, raw = connack_of(server, device, V5, client_id="$reserved",
                              properties=prop_four_byte(MAXIMUM_PACKET_SIZE, 16))
    raw.close()
    assert len(packets) == 1 and packets[0][0] == 2 and packets[0][2][1] == 0x85, packets
    props, _ = parse_properties(packets[0][2], 2)
    assert REASON_STRING not in props and wire_size(packets[0]) <= 16
    # Without the limit the same refusal carries its reason string (so the test above can fail).
    packets, raw = connack_of(server, device, V5, client_id="$reserved")
    raw.close()
    props, _ = parse_properties(packets[0][2], 2)
    assert "reserved" in props[REASON_STRING][0] and wire_size(packets[0]) > 16


def test_connack_that_cannot_fit_closes_without_sending(server, device):
    """The success CONNACK carries the server's properties (about 30 bytes); a 10-byte limit cannot hold
    it, so the server closes instead of breaking the limit, and logs why."""
    mark = server.log_mark()
    client_id = unique("tiny")
    packets, raw = connack_of(server, device, V5, client_id=client_id,
                              properties=prop_four_byte(MAXIMUM_PACKET_SIZE, 10))
    raw.close()
    assert packets == []
    entry = server.wait_log(mark, reason="PACKET_TOO_LARGE", clientId=client_id)
    assert entry["eventType"] == "Connect" and "Maximum Packet Size of 10" in entry["details"]
    # Refused before it counted as connected: no success entry, no presence event.
    assert server.find_log(mark, eventType="Connect", clientId=client_id, status="Success") == []


def test_suback_and_disconnect_drop_reason_strings_to_fit(server, device):
    limit = 48
    raw = RawTLSClient(server, device)
    raw.send(connect_packet(unique("small"), V5, properties=prop_four_byte(MAXIMUM_PACKET_SIZE, limit)))
    connack = raw.read_packet()
    assert connack[0] == 2 and connack[2][1] == 0 and wire_size(connack) <= limit
    # Nine filters are over AWS's eight per SUBSCRIBE: every one 0x97, with a reason string that does not fit.
    raw.send(subscribe_packet(5, [(f"conf/f{i}", 1) for i in range(9)]))
    suback = raw.read_packet()
    props, pos = parse_properties(suback[2], 2)
    assert suback[0] == 9 and list(suback[2][pos:]) == [0x97] * 9
    assert REASON_STRING not in props and wire_size(suback) <= limit
    raw.send(publish_packet("conf/+", b"x", qos=1, packet_id=2))
    packets = raw.read_until_closed()
    raw.close()
    assert [(p[0], p[2][:1]) for p in packets] == [(14, b"\x90")]
    disconnect = packets[0][2]
    assert len(disconnect) == 1 or REASON_STRING not in parse_properties(disconnect, 1)[0]
    assert wire_size(packets[0]) <= limit


# -- unsolicited PUBACK -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_puback_for_an_unknown_packet_id_is_ignored(server, device, version):
    """Neither spec makes it an error, and AWS may re-send a message under a new packet id, so a late
    PUBACK is normal: it is ignored, the connection stays, and it does not acknowledge another message."""
    topic = unique("conf/unsolicited")
    # MQTT 5 with Receive Maximum 1: had the unknown PUBACK released the message in flight, the next one
    # would arrive before the real PUBACK.
    raw = raw_session(server, device, unique("puback"), version,
                      **({"properties": prop_two_byte(0x21, 1)} if version == V5 else {}))
    raw.send(subscribe_packet(1, [(topic, 1)], version))
    assert raw.read_packet()[0] == 9
    raw.send(puback_packet(4242))
    publisher = raw_session(server, device, unique("puback-pub"), V5)
    publisher.send(publish_packet(topic, b"one", qos=1, packet_id=1))
    assert publisher.read_packet()[0] == 4
    p = raw.read_packet()
    assert p[0] == 3
    packet_id = int.from_bytes(p[2][2 + len(topic):4 + len(topic)], "big")
    raw.send(puback_packet((packet_id % 65535) + 1))  # another unknown id, while one is in flight
    publisher.send(publish_packet(topic, b"two", qos=1, packet_id=2))
    assert publisher.read_packet()[0] == 4
    raw.send(PINGREQ)
    if version == V5:
        assert raw.read_packet()[0] == 13, "'two' must wait for the real PUBACK"
        raw.send(puback_packet(packet_id))
        assert raw.read_packet()[0] == 3
    else:
        assert sorted(raw.read_packet()[0] for _ in range(2)) == [3, 13]
        raw.send(puback_packet(packet_id))
    raw.close()
    publisher.close()


# -- control characters ---------------------------------------------------------------------------------------

CONTROL = ["\x01", "\x1f", "\x7f", "\u0085"]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
@pytest.mark.parametrize("char", CONTROL, ids=["U+0001", "U+001F", "U+007F", "U+0085"])
def test_control_character_in_client_id_refused(server, device, version, char):
    mark = server.log_mark()
    packets, raw = connack_of(server, device, version, client_id=f"dev{char}ice")
    raw.close()
    assert len(packets) == 1 and packets[0][0] == 2
    assert packets[0][2][1] == {V5: 0x85, V311: 2}[version]
    assert "control characters" in server.wait_log(mark, eventType="Connect", reason="CLIENT_ID_INVALID")["details"]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_control_character_in_user_name_refused(server, device, version):
    packets, raw = connack_of(server, device, version, username="?SDK=x\x07")
    raw.close()
    assert len(packets) == 1 and packets[0][2][1] == {V5: 0x86, V311: 4}[version]
    # The SDKs' metrics user name is accepted.
    ok = raw_session(server, device, unique("sdk-user"), version, username="?SDK=Python&Version=1.0")
    ok.close()


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_control_character_in_will_topic_refused(server, device, version):
    packets, raw = connack_of(server, device, version, will_topic="conf/will\x02", will_payload=b"w")
    raw.close()
    if version == V5:
        assert len(packets) == 1 and packets[0][2][1] == 0x90
    else:
        assert packets == []  # 3.1.1 has no return code for a bad will


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
@pytest.mark.parametrize("char", CONTROL, ids=["U+0001", "U+001F", "U+007F", "U+0085"])
def test_control_character_in_topic_name_closes(server, device, version, char):
    raw = raw_session(server, device, unique("ctlpub"), version)
    raw.send(publish_packet(f"conf/a{char}b", b"x", qos=1, level=version))
    packets = raw.read_until_closed()
    raw.close()
    assert [(p[0], p[2][:1]) for p in packets] == ([(14, b"\x90")] if version == V5 else [])


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_control_character_in_filters_refused_per_filter(server, device, version):
    bad = {V5: 0x8F, V311: 0x80}[version]
    raw = raw_session(server, device, unique("ctlsub"), version)
    raw.send(subscribe_packet(6, [("conf/\x7f", 1), ("$share/g\x01/conf", 1), ("conf/\u0090/#", 1), ("conf/fine", 1)], version))
    p = raw.read_packet()
    codes = p[2][2:] if version == V311 else p[2][parse_properties(p[2], 2)[1]:]
    assert p[0] == 9 and list(codes) == [bad, bad, bad, 1]
    raw.send(unsubscribe_packet(7, ["conf/\x1b", "conf/fine"], version))
    p = raw.read_packet()
    assert p[0] == 11
    if version == V5:
        assert list(p[2][parse_properties(p[2], 2)[1]:]) == [0x8F, 0]
    raw.send(PINGREQ)
    assert raw.read_packet()[0] == 13
    raw.close()


def test_control_character_in_https_publish_topic_refused(server):
    key, secret = admin_keys(server)
    data = boto3.client("iot-data", region_name="us-east-1", endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))
    code, status = aws_error(lambda: data.publish(topic="conf/a\x01b", qos=0, payload=b"x"))
    assert (code, status) == ("InvalidRequestException", 400)
