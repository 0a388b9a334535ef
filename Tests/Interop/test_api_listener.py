"""The API listener (9443) holds no socket for free (issue 16): a TCP connection that never starts TLS is closed
after the connect timeout, a TLS connection that sends no request after the idle timeout, and at most
`api.maximumConnections` are held at once (further ones wait in the backlog until one closes)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from interop_support import Server, iot_client, wait_until


@pytest.fixture(scope="module")
def api_server(portcullis_bin, tmp_path_factory):
    # Only the TLS deadline is short: the HTTP idle timer also starts at accept, and must not be what
    # closes the silent sockets here.
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("api-listener"),
                 config={"limits": {"connectTimeout": 2}, "api": {"maximumConnections": 3, "idleTimeoutSeconds": 3600}})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def idle_server(portcullis_bin, tmp_path_factory):
    # Only the idle timeout is short: TLS may take its time on a busy machine.
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("api-idle"),
                 config={"limits": {"connectTimeout": 300}, "api": {"idleTimeoutSeconds": 2}})
    srv.start()
    yield srv
    srv.stop()


def closed_by_server(sock: socket.socket, timeout: float = 20.0) -> bool:
    """True once the server closes the connection (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def test_tcp_connections_that_never_start_tls_are_closed(api_server):
    sockets = [socket.create_connection(("127.0.0.1", api_server.api_port), timeout=5) for _ in range(6)]
    try:
        # Six silent sockets through three slots: each is closed after the connect timeout, the later ones
        # once the earlier ones have made room.
        assert all(closed_by_server(s, 30) for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_tls_connection_without_a_request_is_closed_after_the_idle_timeout(idle_server):
    ctx = ssl.create_default_context(cafile=str(idle_server.ca_cert))
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", idle_server.api_port), timeout=60),
                         server_hostname="localhost") as tls:
        assert closed_by_server(tls, 20)


def test_connections_over_the_cap_wait_until_one_closes(portcullis_bin, tmp_path):
    # A long connect timeout, so that only closing a held socket can make room.
    srv = Server(portcullis_bin, tmp_path / "cap", config={"limits": {"connectTimeout": 60}, "api": {"maximumConnections": 3}})
    srv.start()
    try:
        held_until_one_closes(srv)
    finally:
        srv.stop()


def held_until_one_closes(api_server):
    iot = iot_client(api_server)  # made before the slots are taken, so only the connection can wait
    ctx = ssl.create_default_context(cafile=str(api_server.ca_cert))
    # Three TLS connections, each finished before the next: accepted and held, so the fourth connection
    # arrives after the gateway stopped accepting.
    idle = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", api_server.api_port), timeout=60),
                            server_hostname="localhost") for _ in range(3)]
    result: dict = {}

    def handshake_then_call():
        try:
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", api_server.api_port), timeout=60),
                                 server_hostname="localhost"):
                result["handshake"] = True
            result["answer"] = iot.list_things()
        except Exception as error:  # noqa: BLE001 - reported below
            result["error"] = error

    worker = threading.Thread(target=handshake_then_call, daemon=True)
    try:
        worker.start()
        # Nothing may answer the fourth connection while three are held (a slow machine only makes this
        # more true); then one slot frees and it is served.
        worker.join(3.0)
        assert worker.is_alive() and not result, f"a fourth connection was served while three were held: {result}"
        idle[0].close()
        worker.join(60)
        assert not worker.is_alive() and result.get("handshake") and "answer" in result, result
    finally:
        for s in idle:
            s.close()


def test_the_api_still_answers_after_the_flood(api_server):
    assert wait_until(lambda: iot_client(api_server).list_things() is not None, 20)
