"""TLS session resumption: the gateway issues no session tickets and keeps no session cache (AWS does not
support the SessionTicket extension), so a client that tries to resume (as TLS stacks on devices do) gets a
full handshake, its certificate is checked again, and it still connects with the same principal. (Were a
session ever resumed, the gateway would verify the certificate the session carries before accepting MQTT.)"""

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
def test_attempted_resumption_gets_a_full_handshake_and_the_same_principal(server, device, tls_version, level):
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
    assert session is None or not session.has_ticket, "the server issued a session ticket"

    second, data = _connect_once(server, ctx, client_id, level, session=session)
    try:
        assert not second.session_reused, "the server resumed a session instead of checking the certificate again"
        assert data[:1] == b"\x20" and data[3] == 0, f"CONNACK after the attempted resumption {data!r}"
        entries = wait_until(lambda: (lambda found: found if len(found) == 2 else None)(
            server.find_log(since=mark, eventType="Connect", clientId=client_id, status="Success")))
        assert entries, "two successful Connect entries"
        assert entries[0]["principalId"] == entries[1]["principalId"] == device.cert_id
    finally:
        second.close()
