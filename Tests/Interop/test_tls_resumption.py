"""TLS session resumption: a resumed session skips the server's certificate verification callback, so the
gateway verifies the certificate the session carries again before accepting MQTT on it. A client that
resumes (as TLS stacks on devices do) must still connect, with the same principal."""

from __future__ import annotations

import socket
import ssl

import pytest

from interop_support import V5, V311, connect_packet, unique, wait_until


def _connect_once(server, ctx, client_id, level, session=None):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    sock.sendall(connect_packet(client_id, level))
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return sock, data


@pytest.mark.parametrize("tls_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("level", [V311, V5])
def test_resumed_session_still_connects_with_the_same_principal(server, device, tls_version, level):
    ctx = ssl.create_default_context(cafile=str(device.ca))
    ctx.load_cert_chain(str(device.cert), str(device.key))
    ctx.minimum_version = tls_version
    ctx.maximum_version = tls_version
    client_id = unique("resume")
    mark = server.log_mark()

    first, data = _connect_once(server, ctx, client_id, level)
    assert data[0] == 0x20 and data[3] == 0, f"first CONNACK {data!r}"
    session = first.session
    first.sendall(bytes([0xE0, 0x00]))
    first.close()
    if session is None or not session.has_ticket and tls_version == ssl.TLSVersion.TLSv1_3:
        pytest.skip("the server offered no resumable session")

    second, data = _connect_once(server, ctx, client_id, level, session=session)
    try:
        if not second.session_reused:
            pytest.skip("the client did not resume the session")
        assert data[:1] == b"\x20" and data[3] == 0, f"CONNACK after resumption {data!r}"
        entries = wait_until(lambda: (lambda found: found if len(found) == 2 else None)(
            server.find_log(since=mark, eventType="Connect", clientId=client_id, status="Success")))
        assert entries, "two successful Connect entries"
        assert entries[0]["principalId"] == entries[1]["principalId"] == device.cert_id
    finally:
        second.close()
