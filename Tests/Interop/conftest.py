"""Fixtures for the Portcullis interop suite (see README.md)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from interop_support import V5, MosquittoSub, PahoClient, Server, unique

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / ".build" / "debug" / "portcullis"

# Limits lowered for the tests that need a small quota (see test_limits.py).
LIMITS_CONFIG = {"limits": {
    "publishesPerSecond": 5,
    "maximumSubscriptionsPerConnection": 3,
    "minimumKeepAlive": 1,
    "maximumRetainedMessages": 2,
    "maximumQueuedMessages": 3,
    "connectTimeout": 2,
}}

# No test may run longer than this; every wait inside is bounded far below it anyway.
TEST_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def portcullis_bin() -> Path:
    path = Path(os.environ.get("PORTCULLIS_BIN", str(DEFAULT_BIN)))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(f"portcullis binary not found or not executable: {path}\n"
                    f"Build it with `swift build` in {REPO}, or set PORTCULLIS_BIN to its path.", returncode=2)
    return path


def _start(binary: Path, workdir: Path, config: dict | None = None) -> Server:
    return Server(binary, workdir, config=config).start()


@pytest.fixture(scope="session")
def server(portcullis_bin, tmp_path_factory) -> Server:
    srv = _start(portcullis_bin, tmp_path_factory.mktemp("portcullis"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limits_server(portcullis_bin, tmp_path_factory) -> Server:
    """A second gateway with LIMITS_CONFIG; started only if a test asks for it."""
    srv = _start(portcullis_bin, tmp_path_factory.mktemp("portcullis-limits"), LIMITS_CONFIG)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def device(server):
    return server.mint("interop-device-a")


@pytest.fixture(scope="session")
def device_b(server):
    return server.mint("interop-device-b")


@pytest.fixture
def paho(server, device):
    """Factory: paho(prefix, version, **PahoClient kwargs, connect=True, srv=..., dev=...)."""
    made: list[PahoClient] = []

    def make(prefix: str = "c", version: int = V5, *, connect: bool = True, client_id: str | None = None,
             srv: Server | None = None, dev=None, **kwargs) -> PahoClient:
        srv = srv or server
        dev = dev or (device if srv is server else srv.mint("interop-device"))
        client = PahoClient(srv, dev, client_id if client_id is not None else unique(prefix), version, **kwargs)
        made.append(client)
        if connect:
            client.connect()
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def mosquitto_sub(server, device):
    """Factory for running mosquitto_sub processes, killed at teardown."""
    made: list[MosquittoSub] = []

    def make(client_id: str, topics, *, srv: Server | None = None, dev=None, **kwargs) -> MosquittoSub:
        srv = srv or server
        sub = MosquittoSub(srv, dev or device, client_id, topics, **kwargs)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


@pytest.fixture(autouse=True)
def _test_deadline():
    """Fails a test that somehow runs past TEST_TIMEOUT_S instead of hanging the suite."""
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT_S}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
