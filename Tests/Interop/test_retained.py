"""2. Retained messages (reference 4.4). We follow the MQTT spec for wildcard subscribers (AWS sends stored
retained messages only on an exact filter match; Portcullis sends them to wildcard filters too).

Negative checks use a marker: after subscribing, another client publishes a non-retained marker on the
topic. The broker sends stored retained messages with the SUBACK, so anything retained would arrive before
the marker.
"""

from __future__ import annotations

import time

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, mosquitto_pub, unique


def first_after_subscribe(paho, version, topic_filter, marker_topic, **subscribe_kwargs):
    """Subscribes a new client, publishes a marker, returns every message it got up to the marker."""
    sub = paho("sub", version)
    sub.subscribe(topic_filter, 1, **subscribe_kwargs)
    marker = paho("marker", V311)
    marker.publish(marker_topic, b"marker", qos=1)
    sub.wait_message(marker_topic, predicate=lambda m: m.payload == b"marker")
    got = []
    for m in sub.received():
        if m.topic == marker_topic and m.payload == b"marker":
            break
        got.append(m)
    return sub, got


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_retained_set_replace_delete(paho, version):
    topic = unique("retained/basic")
    pub = paho("pub", version)

    pub.publish(topic, b"v1", qos=1, retain=True)
    _, got = first_after_subscribe(paho, version, topic, topic)
    assert [(m.payload, m.retain, m.qos) for m in got] == [(b"v1", True, 1)]

    pub.publish(topic, b"v2", qos=0, retain=True)  # replaces v1 (and is stored at QoS 0)
    _, got = first_after_subscribe(paho, version, topic, topic)
    assert [(m.payload, m.retain, m.qos) for m in got] == [(b"v2", True, 0)]

    pub.publish(topic, b"", qos=1, retain=True)  # zero bytes: deletes
    _, got = first_after_subscribe(paho, version, topic, topic)
    assert got == []


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_live_retained_publish_reaches_existing_subscribers_with_retain_0(paho, version):
    """Reference 4.4: live deliveries to existing subscribers have RETAIN=0; a deleting (empty) retained
    publish is still forwarded to current subscribers."""
    topic = unique("retained/live")
    sub = paho("sub", version)
    sub.subscribe(topic, 1)
    pub = paho("pub", version)
    pub.publish(topic, b"live", qos=1, retain=True)
    pub.publish(topic, b"", qos=1, retain=True)
    got = sub.wait_messages(2, topic)
    assert [(m.payload, m.retain) for m in got] == [(b"live", False), (b"", False)]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_wildcard_subscriber_gets_retained(paho, version):
    prefix = unique("retained/wild")
    pub = paho("pub", version)
    pub.publish(f"{prefix}/a/x", b"ax", qos=1, retain=True)
    pub.publish(f"{prefix}/b/x", b"bx", qos=1, retain=True)
    pub.publish(f"{prefix}/b/y", b"by", qos=1, retain=True)

    _, got = first_after_subscribe(paho, version, f"{prefix}/#", f"{prefix}/marker")
    assert sorted((m.topic, m.payload, m.retain) for m in got) == [
        (f"{prefix}/a/x", b"ax", True), (f"{prefix}/b/x", b"bx", True), (f"{prefix}/b/y", b"by", True)]

    _, got = first_after_subscribe(paho, version, f"{prefix}/+/x", f"{prefix}/marker/x")
    assert sorted((m.topic, m.payload, m.retain) for m in got) == [
        (f"{prefix}/a/x", b"ax", True), (f"{prefix}/b/x", b"bx", True)]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_shared_subscription_gets_no_retained(paho, version):
    """Reference 4.4 / 4.7 (and MQTT 5 4.8.2): shared subscriptions never receive stored retained messages."""
    topic = unique("retained/shared")
    paho("pub", version).publish(topic, b"stored", qos=1, retain=True)
    _, got = first_after_subscribe(paho, version, f"$share/g/{topic}", topic)
    assert got == []


def test_v5_retain_handling(paho):
    topic = unique("retained/rh")
    paho("pub", V5).publish(topic, b"stored", qos=1, retain=True)

    # 2: do not send retained messages at subscribe.
    _, got = first_after_subscribe(paho, V5, topic, topic, retain_handling=2)
    assert got == []

    # 1: only if the subscription did not exist; 0: always.
    sub = paho("sub", V5)
    sub.subscribe(topic, 1, retain_handling=1)
    assert sub.wait_message(topic).payload == b"stored"
    sub.subscribe(topic, 1, retain_handling=1)  # exists already: nothing
    sub.subscribe(topic, 1, retain_handling=0)  # always: sent again
    paho("marker", V311).publish(topic, b"marker", qos=1)
    got = sub.wait_messages(3, topic)
    assert [(m.payload, m.retain) for m in got] == [(b"stored", True), (b"stored", True), (b"marker", False)]


def test_v5_retain_as_published(paho):
    topic = unique("retained/rap")
    with_rap = paho("rap", V5)
    with_rap.subscribe(topic, 1, retain_as_published=True)
    without = paho("norap", V5)
    without.subscribe(topic, 1)
    pub = paho("pub", V5)
    pub.publish(topic, b"r", qos=1, retain=True)
    pub.publish(topic, b"n", qos=1, retain=False)
    assert [(m.payload, m.retain) for m in with_rap.wait_messages(2, topic)] == [(b"r", True), (b"n", False)]
    assert [(m.payload, m.retain) for m in without.wait_messages(2, topic)] == [(b"r", False), (b"n", False)]


def test_v5_retained_message_expiry(paho):
    """Reference 4.4: a retained message with a Message Expiry Interval stops being delivered once expired."""
    topic = unique("retained/expiry")
    pub = paho("pub", V5)
    pub.publish(topic, b"short-lived", qos=1, retain=True, properties={"MessageExpiryInterval": 1})
    _, got = first_after_subscribe(paho, V5, topic, topic)
    assert [m.payload for m in got] == [b"short-lived"]
    assert got[0].prop("MessageExpiryInterval") in (0, 1)  # remaining time, counted down
    time.sleep(1.6)
    _, got = first_after_subscribe(paho, V5, topic, topic)
    assert got == []


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_mosquitto_retained(server, device, paho, mosquitto_sub, version):
    topic = unique("retained/mosq")
    result = mosquitto_pub(server, device, unique("mpub"), topic, message="kept", qos=1, version=version, retain=True)
    assert result.returncode == 0, result.stderr
    # mosquitto_sub -R would skip it (stale); --retained-only prints only retained messages.
    sub = mosquitto_sub(unique("msub"), topic, qos=1, version=version, count=1, fmt="%r|%p",
                        extra=["--retained-only"])
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert out.decode().strip() == "1|kept"
    result = mosquitto_pub(server, device, unique("mpub"), topic, null_message=True, qos=1, version=version,
                           retain=True)
    assert result.returncode == 0, result.stderr
    _, got = first_after_subscribe(paho, version, topic, topic)
    assert got == []
