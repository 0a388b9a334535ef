"""7. Lifecycle events (reference 4.9) and the reserved `$aws/` namespace (reference 4.8)."""

from __future__ import annotations

import json
import re
import time

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, unique

PRESENCE = "$aws/events/presence/+/+"
SUBSCRIPTIONS = "$aws/events/subscriptions/+/+"
UUIDISH = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def lifecycle_device(server):
    """Its own certificate, so principalIdentifier can be compared with what mint printed."""
    return server.mint("lifecycle-device")


def events(watcher, kind, client_id, count, timeout=5.0):
    topic = f"$aws/events/presence/{kind}/{client_id}"
    return [json.loads(m.payload) for m in watcher.wait_messages(count, topic, timeout)]


def check_common(event, client_id, device, kind):
    assert event["clientId"] == client_id
    assert event["eventType"] == kind
    assert event["principalIdentifier"] == device.cert_id
    assert isinstance(event["timestamp"], int)
    assert abs(event["timestamp"] - time.time() * 1000) < 120_000  # ms, within AWS's +-2 min
    assert isinstance(event["sessionIdentifier"], str) and event["sessionIdentifier"]
    assert isinstance(event["versionNumber"], int)


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_presence_connected_and_disconnected(paho, lifecycle_device, version):
    watcher = paho("watcher", V5)
    assert watcher.subscribe(PRESENCE, 1) == [1]
    client_id = unique("presence")
    client = paho(version=version, client_id=client_id, dev=lifecycle_device)
    client.disconnect()

    (connected,) = events(watcher, "connected", client_id, 1)
    (disconnected,) = events(watcher, "disconnected", client_id, 1)
    check_common(connected, client_id, lifecycle_device, "connected")
    check_common(disconnected, client_id, lifecycle_device, "disconnected")
    assert connected["ipAddress"] == "127.0.0.1"
    assert disconnected["clientInitiatedDisconnect"] is True
    assert disconnected["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    # One connection: one session identifier and one version number for both events.
    assert connected["sessionIdentifier"] == disconnected["sessionIdentifier"]
    assert connected["versionNumber"] == disconnected["versionNumber"]
    msg = watcher.wait_message(f"$aws/events/presence/connected/{client_id}")
    assert msg.qos == 1 and msg.retain is False
    assert msg.prop("ContentType") == "application/json"


def test_presence_connection_lost_and_version_number(paho, lifecycle_device):
    watcher = paho("watcher", V5)
    watcher.subscribe(PRESENCE, 1)
    client_id = unique("lost")
    paho(version=V311, client_id=client_id, dev=lifecycle_device).kill()
    second = paho(version=V5, client_id=client_id, dev=lifecycle_device)
    second.disconnect()

    first_c, second_c = events(watcher, "connected", client_id, 2)
    first_d, second_d = events(watcher, "disconnected", client_id, 2)
    assert first_d["clientInitiatedDisconnect"] is False
    assert first_d["disconnectReason"] == "CONNECTION_LOST"
    assert second_d["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert second_c["versionNumber"] > first_c["versionNumber"]
    assert first_c["sessionIdentifier"] != second_c["sessionIdentifier"]


def test_presence_duplicate_client_id(paho, lifecycle_device):
    watcher = paho("watcher", V5)
    watcher.subscribe(PRESENCE, 1)
    client_id = unique("dup-presence")
    first = paho(version=V5, client_id=client_id, dev=lifecycle_device)
    second = paho(version=V5, client_id=client_id, dev=lifecycle_device)
    first.wait_disconnected()
    (disconnected,) = events(watcher, "disconnected", client_id, 1)
    assert disconnected["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert disconnected["clientInitiatedDisconnect"] is False
    second.disconnect()


def test_presence_seen_by_mosquitto_sub(server, paho, mosquitto_sub, lifecycle_device):
    client_id = unique("mosq-presence")
    sub = mosquitto_sub(unique("msub"), f"$aws/events/presence/connected/{client_id}", qos=1, version=V5,
                        count=1, fmt="%p")
    sub.wait_subscribed()
    paho(version=V5, client_id=client_id, dev=lifecycle_device).disconnect()
    rc, out, err = sub.finish()
    assert rc == 0, err
    event = json.loads(out)
    check_common(event, client_id, lifecycle_device, "connected")


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_subscription_events(paho, lifecycle_device, version):
    watcher = paho("watcher", V5)
    watcher.subscribe(SUBSCRIPTIONS, 1)
    client_id = unique("subevents")
    a, b = unique("life/a"), unique("life/b") + "/#"
    client = paho(version=version, client_id=client_id, dev=lifecycle_device)
    assert client.subscribe([a, b], 1) == [1, 1]
    assert client.unsubscribe([a]) == ([0] if version == V5 else [])
    sub_msg = watcher.wait_message(f"$aws/events/subscriptions/subscribed/{client_id}")
    unsub_msg = watcher.wait_message(f"$aws/events/subscriptions/unsubscribed/{client_id}")
    subscribed, unsubscribed = json.loads(sub_msg.payload), json.loads(unsub_msg.payload)
    for event, kind in ((subscribed, "subscribed"), (unsubscribed, "unsubscribed")):
        check_common({**event, "versionNumber": 0}, client_id, lifecycle_device, kind)
    assert subscribed["topics"] == [a, b]
    assert unsubscribed["topics"] == [a]
    assert subscribed["sessionIdentifier"] == unsubscribed["sessionIdentifier"]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_devices_cannot_publish_to_aws_topics(server, paho, version):
    """v5 QoS 1 gets PUBACK 0x87 Not authorized and stays connected; 3.1.1 cannot be told: closed."""
    client_id = unique("spoofer")
    topic = f"$aws/events/presence/connected/{client_id}"
    watcher = paho("watcher", V5)
    watcher.subscribe("$aws/events/presence/connected/+", 1)
    client = paho(version=version, client_id=client_id)
    mark = server.log_mark()
    reason = client.publish(topic, b'{"eventType":"connected","forged":true}', qos=1)
    if version == V5:
        assert reason == 0x87
        assert client.connected_ok
    else:
        assert reason is None  # no PUBACK: closed
        assert client.wait_disconnected() is not None
    entry = server.wait_log(mark, eventType="Publish-In", status="Failure", clientId=client_id)
    assert entry["reason"] == "AUTHORIZATION_FAILURE"
    # Only the broker's own connected event reached subscribers.
    watcher.wait_message(topic)
    paho("marker", V311).publish(unique("life/marker"), b"", qos=1)  # a round trip through the broker
    assert [json.loads(m.payload)["clientId"] for m in watcher.received(topic)] == [client_id]
    assert all(b"forged" not in m.payload for m in watcher.received())
