"""8. MQTT 5 features (reference 4.6, 4.7) and shared subscriptions in both versions."""

from __future__ import annotations

import time

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, mosquitto_pub, unique


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_shared_subscription_splits_messages(paho, version):
    """Reference 4.7: each message goes to one member of the group."""
    topic = unique("v5/shared")
    members = [paho(f"member{i}", version) for i in range(2)]
    for m in members:
        assert m.subscribe(f"$share/g/{topic}", 1) == [1]
    normal = paho("normal", version)
    normal.subscribe(topic, 1)  # a plain subscriber still gets every message
    pub = paho("pub", version)
    sent = [f"m{i}".encode() for i in range(10)]
    for payload in sent:
        assert pub.publish(topic, payload, qos=1) == 0
    assert [m.payload for m in normal.wait_messages(10, topic)] == sent
    deadline = time.monotonic() + 5
    while sum(len(m.received(topic)) for m in members) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # room for a wrongly duplicated delivery to show up
    per_member = [[msg.payload for msg in m.received(topic)] for m in members]
    assert sorted(per_member[0] + per_member[1]) == sorted(sent), per_member  # each exactly once
    assert per_member[0] and per_member[1], per_member  # both members took a share


def test_shared_subscription_groups_each_get_a_copy(paho):
    topic = unique("v5/groups")
    a = paho("a", V5)
    a.subscribe(f"$share/ga/{topic}", 1)
    b = paho("b", V311)
    b.subscribe(f"$share/gb/{topic}", 1)
    paho("pub", V5).publish(topic, b"both groups", qos=1)
    assert a.wait_message(topic).payload == b"both groups"
    assert b.wait_message(topic).payload == b"both groups"


def test_no_local(paho):
    topic = unique("v5/nolocal")
    client = paho("nolocal", V5)
    client.subscribe(topic, 1, no_local=True)
    client.publish(topic, b"own", qos=1)
    paho("other", V5).publish(topic, b"from other", qos=1)
    assert client.wait_message(topic).payload == b"from other"
    assert [m.payload for m in client.received(topic)] == [b"from other"]


def test_subscription_identifiers_echoed(paho):
    prefix = unique("v5/subid")
    client = paho("subid", V5)
    client.subscribe(f"{prefix}/#", 1, subscription_id=7)
    client.subscribe(f"{prefix}/+/x", 1, subscription_id=300)
    client.subscribe(f"{prefix}/plain", 1)
    assert client.connack_properties.SubscriptionIdentifierAvailable == 1
    pub = paho("pub", V5)
    pub.publish(f"{prefix}/a/x", b"both", qos=1)
    pub.publish(f"{prefix}/only", b"one", qos=1)
    pub.publish(f"{prefix}/plain", b"plain", qos=1)
    both = client.wait_message(f"{prefix}/a/x")
    assert sorted(both.prop("SubscriptionIdentifier")) == [7, 300]
    assert client.wait_message(f"{prefix}/only").prop("SubscriptionIdentifier") == [7]
    # Matched by {prefix}/# (id 7) and the id-less {prefix}/plain: one copy carrying 7.
    plain = client.wait_messages(1, f"{prefix}/plain")
    assert plain[0].prop("SubscriptionIdentifier") == [7]


def test_publish_properties_passed_through(paho, mosquitto_sub):
    topic = unique("v5/props")
    sub = paho("sub", V5)
    sub.subscribe(topic, 1)
    msub = mosquitto_sub(unique("msub"), topic, qos=1, version=V5, count=1, fmt="%P|%R|%D|%C|%F|%p")
    msub.wait_subscribed()
    props = {
        "UserProperty": [("b", "2"), ("a", "1"), ("b", "3")],  # order and duplicates kept
        "ResponseTopic": "reply/here",
        "CorrelationData": b"corr-123",
        "ContentType": "application/x-test",
        "PayloadFormatIndicator": 1,
    }
    paho("pub", V5).publish(topic, "héllo", qos=1, properties=props)
    msg = sub.wait_message(topic)
    assert msg.payload == "héllo".encode()
    assert msg.prop("UserProperty") == [("b", "2"), ("a", "1"), ("b", "3")]
    assert msg.prop("ResponseTopic") == "reply/here"
    assert msg.prop("CorrelationData") == b"corr-123"
    assert msg.prop("ContentType") == "application/x-test"
    assert msg.prop("PayloadFormatIndicator") == 1
    rc, out, err = msub.finish()
    assert rc == 0, err
    assert out.decode().strip() == "b:2 a:1 b:3|reply/here|corr-123|application/x-test|1|héllo"


def test_mosquitto_pub_properties_reach_paho(server, device, paho):
    topic = unique("v5/mprops")
    sub = paho("sub", V5)
    sub.subscribe(topic, 1)
    result = mosquitto_pub(server, device, unique("mpub"), topic, message="req", qos=1, version=V5,
                           extra=["-D", "publish", "user-property", "k", "v",
                                  "-D", "publish", "response-topic", "resp/t",
                                  "-D", "publish", "correlation-data", "c1",
                                  "-D", "publish", "content-type", "text/plain",
                                  "-D", "publish", "message-expiry-interval", "120"])
    assert result.returncode == 0, result.stderr
    msg = sub.wait_message(topic)
    assert msg.prop("UserProperty") == [("k", "v")]
    assert msg.prop("ResponseTopic") == "resp/t"
    assert msg.prop("CorrelationData") == b"c1"
    assert msg.prop("ContentType") == "text/plain"
    assert 118 <= msg.prop("MessageExpiryInterval") <= 120


def test_payload_format_utf8_violation_refused(paho):
    topic = unique("v5/badutf8")
    client = paho("badutf8", V5)
    assert client.publish(topic, b"\xff\xfe", qos=1, properties={"PayloadFormatIndicator": 1}) == 0x99


def test_message_expiry_for_offline_session(paho):
    """A queued message whose expiry runs out while the session is offline is not delivered; one still
    valid arrives with the remaining time."""
    client_id = unique("expiry")
    topic = unique("v5/expiry")
    first = paho(version=V5, client_id=client_id, clean=False, session_expiry=60)
    first.subscribe(topic, 1)
    first.disconnect()
    pub = paho("pub", V5)
    pub.publish(topic, b"expires", qos=1, properties={"MessageExpiryInterval": 1})
    pub.publish(topic, b"lasts", qos=1, properties={"MessageExpiryInterval": 60})
    time.sleep(2.0)
    second = paho(version=V5, client_id=client_id, clean=False, session_expiry=0)
    assert second.session_present is True
    msg = second.wait_message(topic)
    assert msg.payload == b"lasts"
    assert 55 <= msg.prop("MessageExpiryInterval") < 60
    time.sleep(0.2)
    assert [m.payload for m in second.received(topic)] == [b"lasts"]


def test_message_expiry_clamped_to_seven_days(paho):
    """Reference 4.6: Message Expiry Interval maximum 604800 s; larger values are clamped."""
    topic = unique("v5/expiry-clamp")
    sub = paho("sub", V5)
    sub.subscribe(topic, 1)
    paho("pub", V5).publish(topic, b"long", qos=1, properties={"MessageExpiryInterval": 10_000_000})
    assert 604_790 <= sub.wait_message(topic).prop("MessageExpiryInterval") <= 604_800


def test_inbound_topic_alias(paho):
    topic = unique("v5/alias")
    sub = paho("sub", V5)
    sub.subscribe(topic, 1)
    pub = paho("pub", V5)
    assert pub.publish(topic, b"sets alias", qos=1, properties={"TopicAlias": 1}) == 0
    assert pub.publish("", b"uses alias", qos=1, properties={"TopicAlias": 1}) == 0
    assert pub.publish(topic + "/2", b"remaps", qos=1, properties={"TopicAlias": 8}) == 0
    assert pub.publish("", b"remapped", qos=1, properties={"TopicAlias": 8}) == 0
    got = sub.wait_messages(2, topic)
    assert [m.payload for m in got] == [b"sets alias", b"uses alias"]
    assert got[1].prop("TopicAlias") is None  # the broker does not send aliases


def test_topic_alias_above_maximum_refused(paho):
    client = paho("alias9", V5)
    client.publish(unique("v5/alias9"), b"x", qos=1, properties={"TopicAlias": 9}, wait=False)
    assert client.disconnect_reason() == 0x94


def test_connack_properties(paho):
    client = paho("connack", V5, keepalive=60)
    p = client.connack_properties
    assert p.MaximumQoS == 1
    assert p.RetainAvailable == 1
    assert p.TopicAliasMaximum == 8
    assert p.ReceiveMaximum == 100
    assert p.ServerKeepAlive == 60
    assert p.WildcardSubscriptionAvailable == 1
    assert p.SharedSubscriptionAvailable == 1
    assert p.MaximumPacketSize >= 128 * 1024
    assert not hasattr(p, "AssignedClientIdentifier")


def test_assigned_client_identifier(server, paho):
    mark = server.log_mark()
    client = paho(version=V5, client_id="")
    assigned = client.connack_properties.AssignedClientIdentifier
    assert assigned
    other = paho(version=V5, client_id="")
    assert other.connack_properties.AssignedClientIdentifier != assigned
    server.wait_log(mark, eventType="Connect", status="Success", clientId=assigned)
    # The assigned id works like any other: subscribe and receive.
    topic = unique("v5/assigned")
    client.subscribe(topic, 1)
    paho("pub", V311).publish(topic, b"hi", qos=1)
    assert client.wait_message(topic).payload == b"hi"


def test_v311_empty_client_id_with_clean_session(paho):
    client = paho(version=V311, client_id="", clean=True)
    assert client.connack_reason == 0


def test_client_maximum_packet_size_respected(paho):
    """Spec 3.1.2.11.4: the server must not send a packet larger than the client's Maximum Packet Size."""
    topic = unique("v5/maxpacket")
    small = paho("small", V5, connect_properties={"MaximumPacketSize": 512})
    small.subscribe(topic, 1)
    pub = paho("pub", V5)
    pub.publish(topic, b"x" * 2048, qos=1)
    pub.publish(topic, b"fits", qos=1)
    assert small.wait_message(topic).payload == b"fits"
    assert small.connected_ok
