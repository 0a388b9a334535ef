"""SIGTERM stops the gateway gracefully: MQTT 5 clients get DISCONNECT 0x8B (Server shutting down), 3.1.1
clients are closed, the log records a server-initiated disconnect for each, the process exits 0."""

from __future__ import annotations

import pytest

from interop_support import V5, V311, MosquittoSub, PahoClient, Server, unique


@pytest.fixture
def own_server(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path / "shutdown").start()
    yield srv
    srv.stop()


def test_sigterm_disconnects_clients(own_server):
    srv = own_server
    dev = srv.mint("shutdown-device")
    v5 = PahoClient(srv, dev, unique("v5"), V5).connect()
    v311 = PahoClient(srv, dev, unique("v311"), V311).connect()
    msub = MosquittoSub(srv, dev, unique("msub"), unique("shutdown/t"), qos=1, version=V5, timeout_s=None,
                        extra=["-d"])
    try:
        msub.wait_subscribed()
        mark = srv.log_mark()
        srv.terminate()
        assert v5.disconnect_reason(timeout=10) == 0x8B
        assert v311.wait_disconnected(timeout=10) is not None
        rc, out, err = msub.finish(timeout=10)
        assert b"Received DISCONNECT (139)" in out, out  # 139 = 0x8B, mosquitto_sub -d
        assert srv.proc.wait(timeout=10) == 0
        entries = srv.find_log(mark, eventType="Disconnect", status="Failure")
        assert {e["clientId"] for e in entries} >= {v5.client_id, v311.client_id, msub.client_id}
        assert all(e["disconnectReason"] == "SERVER_INITIATED_DISCONNECT" for e in entries)
    finally:
        for c in (v5, v311):
            c.close()
        msub.close()
