"""9. Limits (reference 4.2, 4.8, 4.10). Tests that need a small quota use `limits_server`, started with
conftest.LIMITS_CONFIG: publishesPerSecond 5, maximumSubscriptionsPerConnection 3, minimumKeepAlive 1,
maximumRetainedMessages 2, maximumQueuedMessages 3, connectTimeout 2."""

from __future__ import annotations

import time

import pytest

from interop_support import (PINGREQ, V5, V311, VERSION_IDS, VERSIONS, RawTLSClient, connect_packet,
                             mosquitto_pub, parse_properties, publish_packet, unique)

QUOTA = {V5: 0x97, V311: 0x80}
REFUSED_FILTER = {V5: 0x8F, V311: 0x80}


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_nine_filters_in_one_subscribe_refused(server, paho, version):
    """AWS: at most 8 filters per SUBSCRIBE; the whole packet is refused."""
    prefix = unique("limits/nine")
    client = paho("nine", version)
    mark = server.log_mark()
    filters = [f"{prefix}/{i}" for i in range(9)]
    assert client.subscribe(filters, 1) == [QUOTA[version]] * 9
    assert server.wait_log(mark, eventType="Subscribe", status="Failure", clientId=client.client_id)["reason"] \
        == "SUBSCRIBE_LIMIT_EXCEEDED"
    # Nothing was subscribed.
    marker = paho("marker", V311)
    marker.publish(filters[0], b"not for you", qos=1)
    client.subscribe(f"{prefix}/marker", 1)
    marker.publish(f"{prefix}/marker", b"marker", qos=1)
    client.wait_message(f"{prefix}/marker")
    assert client.received(filters[0]) == []
    assert client.connected_ok


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_eight_filters_in_one_subscribe_accepted(paho, version):
    prefix = unique("limits/eight")
    client = paho("eight", version)
    assert client.subscribe([f"{prefix}/{i}" for i in range(8)], 1) == [1] * 8


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_subscriptions_per_connection_limit(limits_server, paho, version):
    prefix = unique("limits/cap")
    client = paho("cap", version, srv=limits_server)
    assert client.subscribe([f"{prefix}/{i}" for i in range(3)], 1) == [1, 1, 1]
    mark = limits_server.log_mark()
    assert client.subscribe(f"{prefix}/3", 1) == [QUOTA[version]]
    assert limits_server.wait_log(mark, eventType="Subscribe", status="Failure",
                                  clientId=client.client_id)["reason"] == "SUBSCRIPTION_LIMIT_EXCEEDED"
    assert client.subscribe(f"{prefix}/0", 0) == [0]  # replacing an existing subscription is fine
    assert client.subscribe([f"{prefix}/4", f"{prefix}/1"], 1) == [QUOTA[version], 1]
    assert client.connected_ok


def test_default_subscriptions_per_connection_is_50(server, paho):
    """Reference 4.10: 50 subscriptions per connection (default limits)."""
    prefix = unique("limits/fifty")
    client = paho("fifty", V5)
    codes = []
    for start in range(0, 56, 8):
        codes += client.subscribe([f"{prefix}/{i}" for i in range(start, start + 8)], 1)
    assert codes == [1] * 50 + [0x97] * 6


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_topic_with_eight_slashes_refused(server, paho, version):
    """AWS: at most 7 forward slashes in a topic name or filter."""
    base = unique("s")
    seven = base + "/a" * 7
    eight = base + "/a" * 8
    client = paho("slashes", version)
    assert client.subscribe([seven, eight, base + "/+" * 8], 1) == [1, REFUSED_FILTER[version], REFUSED_FILTER[version]]
    assert client.subscribe(f"$share/g/{seven}", 1) == [1]  # "$share/g/" does not count
    assert client.publish(seven, b"ok", qos=1) == 0
    mark = server.log_mark()
    reason = client.publish(eight, b"too deep", qos=1)
    if version == V5:
        assert reason == 0x90
        assert client.connected_ok
    else:
        assert reason is None
        assert client.wait_disconnected() is not None
    assert server.wait_log(mark, eventType="Publish-In", status="Failure",
                           clientId=client.client_id)["reason"] == "TOPIC_NAME_INVALID"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_filter_longer_than_256_bytes_refused(paho, version):
    """Reference 4.7/4.8: filters at most 256 bytes; for shared subscriptions the part after $share/name/."""
    base = unique("f")
    ok = base + "x" * (256 - len(base))
    client = paho("longfilter", version)
    assert client.subscribe([ok, ok + "x", f"$share/g/{ok}", f"$share/g/{ok}x"], 1) == \
        [1, REFUSED_FILTER[version], 1, REFUSED_FILTER[version]]


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_topic_longer_than_256_bytes_refused(paho, version):
    base = unique("long")
    ok = base + "x" * (256 - len(base))
    too_long = ok + "x"
    client = paho("long", version)
    assert client.publish(ok, b"256 bytes", qos=1) == 0
    reason = client.publish(too_long, b"257 bytes", qos=1)
    if version == V5:
        assert reason == 0x90
    else:
        assert reason is None and client.wait_disconnected() is not None


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_client_id_of_129_bytes_refused(server, paho, version):
    """AWS: client id at most 128 bytes. v5 CONNACK 0x85, 3.1.1 return code 2 (identifier rejected)."""
    ok = paho(version=version, client_id="c" * 128)
    assert ok.connack_reason == 0
    mark = server.log_mark()
    refused = paho(version=version, client_id="c" * 129, connect=False)
    assert refused.try_connect() is False
    assert refused.connack_reason == 0x85  # paho reports 3.1.1 code 2 as 0x85 "Client identifier not valid"
    entry = server.wait_log(mark, eventType="Connect", status="Failure")
    assert entry["reason"] == "CLIENT_ID_INVALID"


def test_client_id_of_129_bytes_raw_v311_return_code_2(server, device):
    raw = RawTLSClient(server, device)
    raw.send(connect_packet("d" * 129, V311))
    assert raw.read_until_closed() == [(2, 0, b"\x00\x02")]
    raw.close()


def test_client_id_of_129_bytes_mosquitto_pub(server, device):
    result = mosquitto_pub(server, device, "m" * 129, unique("limits/id"), message="x", version=V311)
    assert result.returncode != 0
    assert b"identifier rejected" in result.stderr + result.stdout


@pytest.mark.parametrize("requested,granted", [(5, 30), (29, 30), (30, 30), (1200, 1200), (0, 1200), (1201, 1200),
                                               (65535, 1200)])
def test_keep_alive_clamped_in_server_keep_alive(server, device, paho, requested, granted):
    """AWS: keep alive 30-1200 s; 1-29 becomes 30, 0 or more than 1200 becomes 1200 (Server Keep Alive)."""
    if requested == 0:
        # paho uses the keep alive as its socket timeout, so 0 makes its TLS handshake non-blocking and it
        # cannot connect at all: send this CONNECT by hand.
        raw = RawTLSClient(server, device)
        raw.send(connect_packet(unique("keepalive"), V5, keepalive=0))
        ptype, _, body = raw.read_packet()
        raw.close()
        assert ptype == 2 and body[1] == 0
        props, _ = parse_properties(body, 2)
        assert props[0x13] == [granted]  # Server Keep Alive
    else:
        client = paho("keepalive", V5, keepalive=requested)
        assert client.connack_properties.ServerKeepAlive == granted


def burst_of_20(limits_server, paho, version):
    """20 QoS 1 publishes written back to back (paho queues them all at once); returns (arrivals, elapsed)."""
    topic = unique("limits/rate")
    sub = paho("sub", V5, srv=limits_server)
    sub.subscribe(topic, 1)
    pub = paho("pub", version, srv=limits_server)
    started = time.monotonic()
    mids = [pub.publish(topic, f"n{i}".encode(), qos=1, wait=False) for i in range(20)]
    got = sub.wait_messages(20, topic, timeout=15)
    assert [m.payload for m in got] == [f"n{i}".encode() for i in range(20)]
    assert all(pub.wait_puback(mid, timeout=10) == 0 for mid in mids)
    assert pub.connected_ok
    return [round(m.at - started, 2) for m in got], got[-1].at - started


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_publish_rate_limit_drops_nothing(limits_server, paho, version):
    """publishesPerSecond 5: a burst of 20 QoS 1 publishes is neither dropped nor disconnected."""
    burst_of_20(limits_server, paho, version)


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_publish_rate_limit_delays_burst(limits_server, paho, version):
    """publishesPerSecond 5 (one second of burst): 20 QoS 1 publishes sent back to back all arrive, in order,
    spread over about (20 - 5) / 5 = 3 s."""
    arrivals, elapsed = burst_of_20(limits_server, paho, version)
    assert elapsed > 2.0, f"20 publishes at 5/s took only {elapsed:.2f}s; arrivals {arrivals}"


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_retained_message_quota(limits_server, paho, version):
    """maximumRetainedMessages 2: a third retained topic is refused (v5 PUBACK 0x97; 3.1.1 closed), replacing
    and deleting still work. Reference 4.4: a full retained store gets a throttled response."""
    srv = limits_server
    prefix = unique("limits/retained")
    client = paho("retainer", version, srv=srv)
    try:
        assert client.publish(f"{prefix}/1", b"one", qos=1, retain=True) == 0
        assert client.publish(f"{prefix}/2", b"two", qos=1, retain=True) == 0
        assert client.publish(f"{prefix}/1", b"one again", qos=1, retain=True) == 0  # replacing: no new slot
        mark = srv.log_mark()
        reason = client.publish(f"{prefix}/3", b"three", qos=1, retain=True)
        if version == V5:
            assert reason == 0x97
        else:
            assert reason is None and client.wait_disconnected() is not None
        assert srv.wait_log(mark, eventType="Publish-In", status="Failure")["reason"] == "RETAINED_QUOTA_EXCEEDED"
    finally:
        cleaner = paho("cleaner", version, srv=srv)
        for i in (1, 2):
            assert cleaner.publish(f"{prefix}/{i}", b"", qos=1, retain=True) == 0
    assert cleaner.publish(f"{prefix}/3", b"fits now", qos=1, retain=True) == 0
    assert cleaner.publish(f"{prefix}/3", b"", qos=1, retain=True) == 0


@pytest.mark.parametrize("version", VERSIONS, ids=VERSION_IDS)
def test_offline_queue_limit_keeps_oldest(limits_server, paho, version):
    """maximumQueuedMessages 3: an offline session keeps the first 3 QoS 1 messages; newer ones are dropped
    and logged (AWS: "new messages are dropped and old ones kept")."""
    srv = limits_server
    client_id = unique("queue")
    topic = unique("limits/queue")
    persistent = {"clean": False, "session_expiry": 300} if version == V5 else {"clean": False}
    first = paho(version=version, client_id=client_id, srv=srv, **persistent)
    first.subscribe(topic, 1)
    first.disconnect()
    pub = paho("pub", V5, srv=srv)
    mark = srv.log_mark()
    for i in range(5):
        assert pub.publish(topic, f"q{i}".encode(), qos=1) == 0
    assert srv.wait_log(mark, eventType="Publish-Out", status="Failure", clientId=client_id)["reason"] == "QUEUE_FULL"
    second = paho(version=version, client_id=client_id, srv=srv, **persistent)
    assert second.session_present
    assert [m.payload for m in second.wait_messages(3, topic)] == [b"q0", b"q1", b"q2"]
    pub.publish(topic, b"live", qos=1)
    assert [m.payload for m in second.wait_messages(4, topic)][3:] == [b"live"]
    second.disconnect()
    paho(version=version, client_id=client_id, srv=srv).disconnect()


def test_connect_timeout(limits_server):
    """connectTimeout 2: a TLS connection that never sends CONNECT is closed."""
    srv = limits_server
    raw = RawTLSClient(srv, srv.mint("interop-device"))
    started = time.monotonic()
    assert raw.read_until_closed(timeout=8) == []
    elapsed = time.monotonic() - started
    raw.close()
    assert 1.5 <= elapsed <= 5, elapsed


def test_rate_limit_pause_is_not_a_keep_alive_timeout(limits_server):
    """publishesPerSecond 5, keep alive 2 s (allowed 3 s): 30 QoS 0 publishes in one write put the connection
    ~5 s in debt; the client keeps sending PINGREQ every 0.5 s and must not be disconnected for inactivity."""
    srv = limits_server
    raw = RawTLSClient(srv, srv.mint("interop-device"))
    raw.send(connect_packet(unique("burst-ping"), V5, keepalive=2))
    assert raw.read_packet()[0] == 2
    raw.send(b"".join(publish_packet(unique("limits/burst"), b"x") for _ in range(30)))
    received = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < 6.5:
            time.sleep(0.5)
            raw.send(PINGREQ)
            try:
                while True:
                    p = raw.read_packet(timeout=0.01)
                    received.append((p[0], p[2][:1]) if p else None)
                    if p is None or p[0] == 14:
                        break
            except TimeoutError:
                pass
            if None in received or any(r[0] == 14 for r in received if r):
                break
    finally:
        raw.close()
    assert all(r == (13, b"") for r in received), f"server answered {received} after {time.monotonic() - started:.1f}s"
    assert len(received) >= 5  # the PINGRESPs came, late or not
