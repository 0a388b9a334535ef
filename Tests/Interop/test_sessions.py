"""6. Persistent sessions (reference 4.3): 3.1.1 cleanSession=0 and v5 Session Expiry > 0 keep QoS 1
subscriptions and queue QoS 1 messages while the client is away; QoS 0 is not stored; a clean session
drops everything."""

from __future__ import annotations

import time

import pytest

from interop_support import V5, V311, VERSION_IDS, VERSIONS, unique


def persistent(version):
    """PahoClient kwargs for a persistent session in either version."""
    return {"clean": False, "session_expiry": 300} if version == V5 else {"clean": False}


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_persistent_session_receives_messages_sent_while_offline(paho, version):
    client_id = unique("persist")
    topic = unique("session/persist")
    first = paho(version=version, client_id=client_id, **persistent(version))
    assert first.session_present is False
    assert first.subscribe(topic, 1) == [1]
    first.disconnect()

    pub = paho("pub", V311)
    for i in range(3):
        assert pub.publish(topic, f"queued-{i}".encode(), qos=1) == 0
    assert pub.publish(topic, b"qos0-not-stored", qos=0) == 0

    second = paho(version=version, client_id=client_id, **persistent(version))
    assert second.session_present is True
    got = second.wait_messages(3, topic)
    assert [m.payload for m in got] == [b"queued-0", b"queued-1", b"queued-2"]
    assert all(m.qos == 1 for m in got)
    # The subscription survived too: live traffic arrives without subscribing again; QoS 0 was not kept.
    pub.publish(topic, b"live", qos=1)
    got = second.wait_messages(4, topic)
    assert [m.payload for m in got][3:] == [b"live"]
    second.disconnect()
    paho(version=version, client_id=client_id).disconnect()  # clean up the session


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_clean_session_discards_stored_state(paho, version):
    client_id = unique("clean")
    topic = unique("session/clean")
    first = paho(version=version, client_id=client_id, **persistent(version))
    first.subscribe(topic, 1)
    first.disconnect()
    paho("pub", V311).publish(topic, b"lost", qos=1)

    second = paho(version=version, client_id=client_id, clean=True)
    assert second.session_present is False
    second.assert_no_message(topic, within=0.7)
    second.disconnect()
    # The clean session ended at disconnect: nothing to resume.
    third = paho(version=version, client_id=client_id, **persistent(version))
    assert third.session_present is False
    third.disconnect()
    paho(version=version, client_id=client_id).disconnect()


def test_persistent_session_does_not_cross_versions(paho):
    """Reference 4.1: persistent sessions cannot cross protocol versions."""
    client_id = unique("crossver")
    first = paho(version=V5, client_id=client_id, **persistent(V5))
    first.subscribe(unique("session/x"), 1)
    first.disconnect()
    second = paho(version=V311, client_id=client_id, **persistent(V311))
    assert second.session_present is False
    second.disconnect()
    paho(version=V311, client_id=client_id).disconnect()


def test_v5_session_expires(paho):
    client_id = unique("expiring")
    topic = unique("session/expiry")
    first = paho(version=V5, client_id=client_id, clean=False, session_expiry=1)
    first.subscribe(topic, 1)
    first.disconnect()
    time.sleep(2.6)  # 1 s expiry; the broker checks expiries about once a second
    paho("pub", V311).publish(topic, b"nobody home", qos=1)
    second = paho(version=V5, client_id=client_id, clean=False, session_expiry=1)
    assert second.session_present is False
    second.assert_no_message(topic, within=0.5)


def test_v5_session_expiry_clamped_in_connack(paho):
    """Reference 4.3: a request above the maximum (default 1 h) is clamped and returned in CONNACK."""
    client = paho("clamp", V5, clean=True, session_expiry=7 * 24 * 3600)
    assert client.connack_properties.SessionExpiryInterval == 3600
    client.disconnect(properties={"SessionExpiryInterval": 0})


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_mosquitto_sub_persistent_session(server, paho, mosquitto_sub, version):
    """mosquitto_sub -c (no clean session; v5 also -x session expiry) resumes and gets what it missed."""
    client_id = unique("msub-persist")
    topic = unique("session/mosq")
    extra = ["-c"] + (["-x", "300"] if version == V5 else [])
    pub = paho("pub", V311)

    first = mosquitto_sub(client_id, topic, qos=1, version=version, count=1, fmt="%p", extra=extra)
    first.wait_subscribed()
    pub.publish(topic, b"online", qos=1)
    rc, out, err = first.finish()
    assert rc == 0 and out.decode().split() == ["online"], err

    for i in range(2):
        pub.publish(topic, f"missed-{i}".encode(), qos=1)
    second = mosquitto_sub(client_id, topic, qos=1, version=version, count=2, fmt="%p", extra=extra)
    rc, out, err = second.finish()
    assert rc == 0, err
    assert out.decode().split() == ["missed-0", "missed-1"]
    paho(version=version, client_id=client_id).disconnect()
