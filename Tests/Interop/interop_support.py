"""Helpers for the Portcullis interop suite: the server process, device certificates, paho clients,
mosquitto_pub / mosquitto_sub wrappers and a raw MQTT-over-TLS socket for byte-level checks.

Every wait here is bounded: nothing blocks for longer than the timeout it is given.
"""

from __future__ import annotations

import configparser
import datetime
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"

V311 = 4
V5 = 5
VERSIONS = [V311, V5]
VERSION_IDS = ["v311", "v5"]

# Default bounded wait for something that should happen "now" (a delivery, an ack, a log line).
WAIT = 5.0


def unique(prefix: str) -> str:
    """A client id / topic component no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.02) -> Any:
    """Polls `predicate` until it returns something truthy; returns it, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# Server process


@dataclass
class Device:
    name: str
    cert: Path
    key: Path
    ca: Path
    cert_id: str


class Server:
    """One `portcullis serve` process in its own data directory, listening on an ephemeral port."""

    def __init__(self, binary: Path, workdir: Path, config: dict | None = None, log_level: str = "debug",
                 env: dict[str, str] | None = None):
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.ready_file = self.workdir / "ready.json"
        self.log_path = self.workdir / "server.stdout.jsonl"
        self.stderr_path = self.workdir / "server.stderr.txt"
        self.config = config
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.host = "localhost"
        self.port = 0
        self.api_port = 0
        self.shared_port = 0
        self.env = env
        self._devices: dict[str, Device] = {}
        self._mint_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> "Server":
        self.ready_file.unlink(missing_ok=True)  # a restart must not read the previous run's ports
        cmd = [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--mqtt-listen", "127.0.0.1:0",
               "--api-listen", "127.0.0.1:0", "--shared-listen", "127.0.0.1:0", "--ready-file", str(self.ready_file), "--log-level", self.log_level]
        if self.config is not None:
            config_path = self.workdir / "config.json"
            config_path.write_text(json.dumps(self.config))
            cmd += ["--config", str(config_path)]
        self._stdout = open(self.log_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(cmd, stdout=self._stdout, stderr=self._stderr, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portcullis exited with {self.proc.returncode} before it was ready:\n"
                                   f"{self.stderr_path.read_text(errors='replace')}\n"
                                   f"{self.log_path.read_text(errors='replace')[-4000:]}")
            try:
                ready = json.loads(self.ready_file.read_text())
                self.port = int(ready["mqtt"][0]["port"])
                self.api_port = int(ready["api"][0]["port"])
                self.shared_port = int(ready["shared"][0]["port"])
                break
            except (FileNotFoundError, ValueError, KeyError, IndexError):
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"portcullis did not write {self.ready_file} within {timeout}s:\n"
                                   f"{self.stderr_path.read_text(errors='replace')}")
            time.sleep(0.05)
        return self

    def terminate(self) -> None:
        """SIGTERM: the graceful stop (clients are sent DISCONNECT 0x8B)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (getattr(self, "_stdout", None), getattr(self, "_stderr", None)):
            if f:
                f.close()
        return self.proc.returncode

    # -- devices ---------------------------------------------------------------------------------

    ALLOW_ALL = "interop-allow-all"

    def ensure_allow_all_policy(self) -> str:
        """A policy allowing every action on every resource (created once per server), for tests about
        something other than authorization."""
        if not getattr(self, "_allow_all", False):
            iot = iot_client(self)
            try:
                iot.create_policy(policyName=self.ALLOW_ALL, policyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
            except iot.exceptions.ResourceAlreadyExistsException:
                pass
            self._allow_all = True
        return self.ALLOW_ALL

    def mint(self, name: str, out: Path | None = None, days: int | None = None, policy: str | None = "allow-all") -> Device:
        """`portcullis device mint NAME --policy P`; cached per name. By default the certificate gets the
        allow-all policy; `policy=None` attaches none."""
        with self._mint_lock:
            if name in self._devices:
                return self._devices[name]
            out = Path(out) if out else self.data_dir / "devices" / name
            cmd = [str(self.binary), "device", "mint", name, "--data-dir", str(self.data_dir), "--out", str(out)]
            if policy == "allow-all":
                policy = self.ensure_allow_all_policy()
            if policy:
                cmd += ["--policy", policy]
            else:
                cmd += ["--no-policy"]
            if days is not None:
                cmd += ["--days", str(days)]
            env = dict(os.environ, **self.env) if self.env else None
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
            if result.returncode != 0:
                raise RuntimeError(f"device mint failed ({result.returncode}): {result.stderr}{result.stdout}")
            first = result.stdout.splitlines()[0]
            assert first.startswith("certificate id"), first
            cert_id = first.split(":", 1)[1].strip()
            assert len(cert_id) == 64 and all(c in "0123456789abcdef" for c in cert_id), cert_id
            device = Device(name, out / f"{name}.cert.pem", out / f"{name}.private.key", out / "root-ca.pem", cert_id)
            for p in (device.cert, device.key, device.ca):
                assert p.exists(), p
            self._devices[name] = device
            return device

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "ca" / "root-ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.data_dir / "ca" / "root-ca.key"

    # -- log ---------------------------------------------------------------------------------------

    def log_entries(self) -> list[dict]:
        entries = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return entries
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass  # a line still being written
        return entries

    def log_mark(self) -> int:
        """Number of log entries so far; pass to `find_log`/`wait_log` to look only at later ones."""
        return len(self.log_entries())

    def find_log(self, since: int = 0, **fields: Any) -> list[dict]:
        return [e for e in self.log_entries()[since:] if all(e.get(k) == v for k, v in fields.items())]

    def wait_log(self, since: int = 0, timeout: float = WAIT, **fields: Any) -> dict:
        found = wait_until(lambda: self.find_log(since, **fields), timeout)
        if not found:
            tail = "\n".join(json.dumps(e) for e in self.log_entries()[since:][-15:])
            raise AssertionError(f"no log entry with {fields} within {timeout}s; recent entries:\n{tail}")
        return found[0]


# --------------------------------------------------------------------------------------------------
# paho clients


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties | None
    at: float = field(default_factory=time.monotonic)

    def prop(self, name: str, default: Any = None) -> Any:
        if self.properties is None:
            return default
        return getattr(self.properties, name, default)


def reason_value(rc: Any) -> int | None:
    if rc is None:
        return None
    if isinstance(rc, ReasonCode):
        return rc.value
    return int(rc)


class PahoClient:
    """A paho-mqtt 2.1 client on its own network thread, with every callback recorded.

    Automatic reconnection is off, so a connection the server closes stays closed.
    """

    def __init__(self, server: Server, device: Device, client_id: str, version: int = V5, *,
                 clean: bool = True, session_expiry: int | None = None, keepalive: int = 60,
                 will: dict | None = None, connect_properties: dict | None = None,
                 certfile: Path | str | None = "device", keyfile: Path | str | None = "device",
                 ca: Path | None = None, port: int | None = None, ws_path: str | None = None, host: str | None = None):
        self.server = server
        # The server name to connect to (a region's, iot.<region>.localhost); the server's by default.
        self.host = host or server.host
        self.device = device
        self.client_id = client_id
        self.version = version
        self.clean = clean
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.connect_properties = connect_properties or {}
        # `ws_path`: MQTT over WebSocket (subprotocol mqtt) to that path of `port`, the shared port.
        self.port = port or server.port
        protocol = mqtt.MQTTv5 if version == V5 else mqtt.MQTTv311
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, clean_session=None if version == V5 else clean,
                                  reconnect_on_failure=False, transport="websockets" if ws_path else "tcp")
        if ws_path:
            self.client.ws_set_options(path=ws_path)
        cert = device.cert if certfile == "device" else certfile
        key = device.key if keyfile == "device" else keyfile
        self.client.tls_set(ca_certs=str(ca or device.ca), certfile=str(cert) if cert else None,
                            keyfile=str(key) if key else None)
        if will:
            props = None
            if version == V5 and will.get("properties"):
                props = Properties(PacketTypes.WILLMESSAGE)
                for k, v in will["properties"].items():
                    setattr(props, k, v)
            self.client.will_set(will["topic"], will.get("payload"), qos=will.get("qos", 0),
                                 retain=will.get("retain", False), properties=props)

        self._cond = threading.Condition()
        self.messages: list[Received] = []
        self.connack: tuple[Any, Any, Any] | None = None  # (flags, reason_code, properties)
        self.disconnects: list[tuple[Any, Any]] = []  # (reason_code, properties)
        self.subacks: dict[int, tuple[list, Any]] = {}
        self.unsubacks: dict[int, tuple[list, Any]] = {}
        self.pubacks: dict[int, Any] = {}
        self.connect_error: BaseException | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_publish = self._on_publish
        self._started = False

    # -- callbacks (network thread) -------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self._cond:
            self.connack = (flags, reason_code, properties)
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._cond:
            self.disconnects.append((reason_code, properties))
            self._cond.notify_all()

    def _on_message(self, client, userdata, message):
        rec = Received(message.topic, bytes(message.payload), message.qos, bool(message.retain),
                       getattr(message, "properties", None))
        with self._cond:
            self.messages.append(rec)
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self.subacks[mid] = (list(reason_codes), properties)
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self.unsubacks[mid] = (list(reason_codes), properties)
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._cond:
            self.pubacks[mid] = reason_code
            self._cond.notify_all()

    def _wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    # -- connection --------------------------------------------------------------------------------

    def start_connect(self) -> bool:
        """Opens TCP + TLS and sends CONNECT; False if that already failed (recorded in connect_error)."""
        kwargs: dict[str, Any] = {}
        if self.version == V5:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            for k, v in self.connect_properties.items():
                setattr(props, k, v)
            kwargs["clean_start"] = self.clean
            kwargs["properties"] = props
        try:
            self.client.connect(self.host, self.port, keepalive=self.keepalive, **kwargs)
        except (ssl.SSLError, OSError, mqtt.WebsocketConnectionError) as error:
            self.connect_error = error
            return False
        self.client.loop_start()
        self._started = True
        return True

    def try_connect(self, timeout: float = WAIT) -> bool:
        """True if a successful CONNACK arrived; False on refusal, TLS failure or close."""
        if not self.start_connect():
            return False
        self._wait(lambda: self.connack is not None or self.disconnects, timeout)
        return self.connected_ok

    def connect(self, timeout: float = WAIT) -> "PahoClient":
        if not self.try_connect(timeout):
            raise AssertionError(f"{self.client_id}: connect failed: connack={self.connack} "
                                 f"disconnects={self.disconnects} error={self.connect_error!r}")
        return self

    @property
    def connected_ok(self) -> bool:
        return self.connack is not None and reason_value(self.connack[1]) == 0 and not self.disconnects

    @property
    def connack_reason(self) -> int | None:
        return reason_value(self.connack[1]) if self.connack else None

    @property
    def connack_properties(self) -> Properties | None:
        return self.connack[2] if self.connack else None

    @property
    def session_present(self) -> bool:
        assert self.connack is not None
        return bool(self.connack[0].session_present)

    def wait_disconnected(self, timeout: float = WAIT) -> tuple[Any, Any] | None:
        """The first (reason_code, properties) paho reported for the end of the connection."""
        found = self._wait(lambda: self.disconnects, timeout)
        return found[0] if found else None

    def disconnect_reason(self, timeout: float = WAIT) -> int | None:
        """The reason code of the server's DISCONNECT (v5), as paho reported it."""
        found = self.wait_disconnected(timeout)
        assert found is not None, f"{self.client_id}: still connected after {timeout}s"
        return reason_value(found[0])

    def disconnect(self, reasoncode: int | None = None, properties: dict | None = None,
                   timeout: float = WAIT) -> None:
        """A normal MQTT DISCONNECT, waiting until paho closed the socket."""
        rc = None
        if reasoncode is not None:
            rc = ReasonCode(PacketTypes.DISCONNECT, identifier=reasoncode)
        props = None
        if properties:
            props = Properties(PacketTypes.DISCONNECT)
            for k, v in properties.items():
                setattr(props, k, v)
        self.client.disconnect(reasoncode=rc, properties=props)
        self._wait(lambda: self.disconnects, timeout)
        self._join()

    def kill(self) -> None:
        """Drops the TCP connection without an MQTT DISCONNECT or TLS close_notify (like a crashed device)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        self._wait(lambda: self.disconnects, WAIT)
        self._join()

    def _join(self, timeout: float = 3.0) -> None:
        thread = getattr(self.client, "_thread", None)
        self.client._thread_terminate = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def close(self) -> None:
        """Teardown: disconnect if still connected, stop the thread, never raise."""
        try:
            if self._started and not self.disconnects:
                self.client.disconnect()
                self._wait(lambda: self.disconnects, 2.0)
        except Exception:
            pass
        try:
            self._join()
            sock = self.client.socket()
            if sock is not None:
                sock.close()
        except Exception:
            pass

    # -- operations ----------------------------------------------------------------------------------

    def subscribe(self, topics: str | list, qos: int = 1, *, no_local: bool = False,
                  retain_as_published: bool = False, retain_handling: int = 0,
                  subscription_id: int | None = None, timeout: float = WAIT) -> list[int]:
        """SUBSCRIBE and wait for SUBACK; returns the reason codes / granted QoS as ints.

        `topics` is a filter or a list of filters (same options for each) or (filter, qos) pairs.
        """
        if isinstance(topics, str):
            topics = [topics]
        entries = []
        for t in topics:
            f, q = (t if isinstance(t, tuple) else (t, qos))
            if self.version == V5:
                entries.append((f, SubscribeOptions(qos=q, noLocal=no_local, retainAsPublished=retain_as_published,
                                                    retainHandling=retain_handling)))
            else:
                entries.append((f, q))
        props = None
        if subscription_id is not None:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = subscription_id
        rc, mid = self.client.subscribe(entries, properties=props)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe not sent: {rc}"
        found = self._wait(lambda: self.subacks.get(mid), timeout)
        assert found is not None, f"{self.client_id}: no SUBACK for {topics} within {timeout}s"
        return [reason_value(c) for c in found[0]]

    def unsubscribe(self, topics: str | list, timeout: float = WAIT) -> list[int]:
        if isinstance(topics, str):
            topics = [topics]
        rc, mid = self.client.unsubscribe(topics)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        found = self._wait(lambda: self.unsubacks.get(mid), timeout)
        assert found is not None, f"{self.client_id}: no UNSUBACK within {timeout}s"
        return [reason_value(c) for c in found[0]]

    def publish(self, topic: str, payload: bytes | str | None, qos: int = 0, retain: bool = False,
                properties: dict | None = None, wait: bool = True, timeout: float = WAIT) -> int | None:
        """PUBLISH; with `wait`, returns the PUBACK reason code (QoS 1) or 0 once a QoS 0 is written.

        Returns None if nothing came back within the timeout or the connection closed first.
        """
        props = None
        if properties:
            props = Properties(PacketTypes.PUBLISH)
            for k, v in properties.items():
                setattr(props, k, v)
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if not wait:
            return info.mid
        # A closed connection ends the wait too: no PUBACK will come.
        self._wait(lambda: info.mid in self.pubacks or self.disconnects, timeout)
        with self._cond:
            if info.mid not in self.pubacks:
                return None
            return reason_value(self.pubacks[info.mid]) or 0

    def wait_puback(self, mid: int, timeout: float = WAIT) -> int | None:
        found = self._wait(lambda: mid in self.pubacks, timeout)
        return (reason_value(self.pubacks[mid]) or 0) if found else None

    # -- received messages -----------------------------------------------------------------------------

    def received(self, topic: str | None = None) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def wait_messages(self, count: int, topic: str | None = None, timeout: float = WAIT,
                      predicate: Callable[[Received], bool] | None = None) -> list[Received]:
        """The first `count` messages (on `topic`, matching `predicate`); fails after `timeout`."""
        def matching():
            return [m for m in self.messages if (topic is None or m.topic == topic)
                    and (predicate is None or predicate(m))]
        found = self._wait(lambda: len(matching()) >= count, timeout)
        got = matching()
        assert found, (f"{self.client_id}: expected {count} message(s) on {topic!r}, got {len(got)} "
                       f"within {timeout}s: {[(m.topic, m.payload[:40]) for m in got]}")
        return got[:count]

    def wait_message(self, topic: str | None = None, timeout: float = WAIT,
                     predicate: Callable[[Received], bool] | None = None) -> Received:
        return self.wait_messages(1, topic, timeout, predicate)[0]

    def assert_no_message(self, topic: str | None = None, within: float = 0.5) -> None:
        found = self._wait(lambda: self.received(topic), within)
        assert not found, f"{self.client_id}: unexpected message(s) on {topic!r}: " \
                          f"{[(m.topic, m.payload[:40], m.retain) for m in found]}"


# --------------------------------------------------------------------------------------------------
# mosquitto command line clients


def mosquitto_tls_args(server: Server, device: Device | None, *, cert: Path | None = None,
                       key: Path | None = None, ca: Path | None = None) -> list[str]:
    args = ["-h", server.host, "-p", str(server.port), "--cafile", str(ca or (device.ca if device else server.ca_cert))]
    cert = cert or (device.cert if device else None)
    key = key or (device.key if device else None)
    if cert:
        args += ["--cert", str(cert), "--key", str(key)]
    return args


def version_arg(version: int | str) -> str:
    return {V311: "mqttv311", V5: "mqttv5", 3: "mqttv31"}.get(version, version)  # type: ignore[arg-type]


def mosquitto_pub(server: Server, device: Device | None, client_id: str, topic: str, *,
                  message: str | None = None, file: Path | None = None, null_message: bool = False,
                  qos: int = 0, version: int | str = V311, retain: bool = False, extra: Iterable[str] = (),
                  timeout: float = 15.0, tls: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = [MOSQUITTO_PUB] + (tls if tls is not None else mosquitto_tls_args(server, device))
    cmd += ["-i", client_id, "-t", topic, "-q", str(qos), "-V", version_arg(version)]
    if file is not None:
        cmd += ["-f", str(file)]
    elif null_message:
        cmd += ["-n"]
    else:
        cmd += ["-m", message if message is not None else ""]
    if retain:
        cmd.append("-r")
    cmd += list(extra)
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


class MosquittoSub:
    """A running mosquitto_sub; `wait_subscribed` uses the server log to know it is ready."""

    def __init__(self, server: Server, device: Device, client_id: str, topics: str | list[str], *,
                 qos: int = 0, version: int = V311, count: int | None = None, fmt: str | None = None,
                 extra: Iterable[str] = (), timeout_s: int | None = 15):
        self.server = server
        self.client_id = client_id
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        cmd = [MOSQUITTO_SUB] + mosquitto_tls_args(server, device) + ["-i", client_id, "-q", str(qos),
                                                                     "-V", version_arg(version)]
        for t in self.topics:
            cmd += ["-t", t]
        if count is not None:
            cmd += ["-C", str(count)]
        if fmt is not None:
            cmd += ["-F", fmt]
        if timeout_s is not None:
            cmd += ["-W", str(timeout_s)]
        cmd += list(extra)
        self.mark = server.log_mark()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def wait_connected(self, timeout: float = WAIT) -> dict:
        return self.server.wait_log(self.mark, timeout, eventType="Connect", status="Success", clientId=self.client_id)

    def wait_subscribed(self, timeout: float = WAIT) -> None:
        for t in self.topics:
            try:
                self.server.wait_log(self.mark, timeout, eventType="Subscribe", status="Success",
                                     clientId=self.client_id, topicName=t)
            except AssertionError:
                if self.proc.poll() is not None:
                    out, err = self.proc.communicate()
                    raise AssertionError(f"mosquitto_sub exited {self.proc.returncode}: {err!r} {out!r}")
                raise

    def finish(self, timeout: float = 15.0) -> tuple[int, bytes, bytes]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=5)
            raise AssertionError(f"mosquitto_sub did not finish within {timeout}s; output so far {out[:500]!r}")
        return self.proc.returncode, out, err

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.communicate(timeout=5)
        except Exception:
            pass


# --------------------------------------------------------------------------------------------------
# Raw MQTT over TLS (byte-level checks paho and mosquitto will not produce)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def mqtt_string(s: str | bytes) -> bytes:
    data = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(data)) + data


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(client_id: str, level: int = V5, *, clean: bool = True, keepalive: int = 60,
                   will_topic: str | None = None, will_payload: bytes = b"", will_qos: int = 0,
                   will_properties: bytes = b"", properties: bytes = b"", username: str | None = None) -> bytes:
    """CONNECT for protocol level 3 (MQTT 3.1, "MQIsdp"), 4 (3.1.1) or 5."""
    name = "MQIsdp" if level == 3 else "MQTT"
    flags = 0x02 if clean else 0
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3)
    if username is not None:
        flags |= 0x80
    body = mqtt_string(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == V5:
        body += varint(len(properties)) + properties
    body += mqtt_string(client_id)
    if will_topic is not None:
        if level == V5:
            body += varint(len(will_properties)) + will_properties
        body += mqtt_string(will_topic) + mqtt_string(will_payload)
    if username is not None:
        body += mqtt_string(username)
    return packet(0x10, body)


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1, level: int = V5,
                   properties: bytes = b"") -> bytes:
    body = mqtt_string(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if level == V5:
        body += varint(len(properties)) + properties
    return packet(0x30 | (qos << 1), body + payload)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]], level: int = V5, properties: bytes = b"") -> bytes:
    body = struct.pack("!H", packet_id)
    if level == V5:
        body += varint(len(properties)) + properties
    for f, options in filters:
        body += mqtt_string(f) + bytes([options])
    return packet(0x82, body)


def unsubscribe_packet(packet_id: int, filters: list[str], level: int = V5) -> bytes:
    body = struct.pack("!H", packet_id)
    if level == V5:
        body += varint(0)
    for f in filters:
        body += mqtt_string(f)
    return packet(0xA2, body)


def puback_packet(packet_id: int) -> bytes:
    return packet(0x40, struct.pack("!H", packet_id))


def disconnect_packet(level: int = V5, reason: int = 0, properties: bytes = b"") -> bytes:
    if level != V5:
        return packet(0xE0, b"")
    return packet(0xE0, bytes([reason]) + varint(len(properties)) + properties)


PINGREQ = packet(0xC0, b"")


def prop_four_byte(ident: int, value: int) -> bytes:
    return bytes([ident]) + struct.pack("!I", value)


def prop_two_byte(ident: int, value: int) -> bytes:
    return bytes([ident]) + struct.pack("!H", value)


def parse_publish(flags: int, body: bytes, level: int = V5) -> dict:
    """Fields of a received PUBLISH."""
    qos = (flags >> 1) & 3
    n = struct.unpack_from("!H", body, 0)[0]
    topic = body[2:2 + n].decode()
    pos = 2 + n
    packet_id = None
    if qos:
        packet_id = struct.unpack_from("!H", body, pos)[0]
        pos += 2
    props: dict = {}
    if level == V5:
        props, pos = parse_properties(body, pos)
    return {"topic": topic, "qos": qos, "dup": bool(flags & 8), "retain": bool(flags & 1),
            "packet_id": packet_id, "properties": props, "payload": body[pos:]}


_BYTE_PROPS = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO_BYTE_PROPS = {0x13, 0x21, 0x22, 0x23}
_FOUR_BYTE_PROPS = {0x02, 0x11, 0x18, 0x27}
_STRING_PROPS = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY_PROPS = {0x09, 0x16}


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, multiplier = 0, 1
    while True:
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            return value, pos


def parse_properties(data: bytes, pos: int = 0) -> tuple[dict[int, list], int]:
    """MQTT 5 properties at `pos` (length prefix included): ({identifier: [values]}, position after)."""
    length, pos = read_varint(data, pos)
    end = pos + length
    props: dict[int, list] = {}
    while pos < end:
        ident, pos = read_varint(data, pos)
        if ident in _BYTE_PROPS:
            value, pos = data[pos], pos + 1
        elif ident in _TWO_BYTE_PROPS:
            value, pos = struct.unpack_from("!H", data, pos)[0], pos + 2
        elif ident in _FOUR_BYTE_PROPS:
            value, pos = struct.unpack_from("!I", data, pos)[0], pos + 4
        elif ident == 0x0B:
            value, pos = read_varint(data, pos)
        elif ident in _STRING_PROPS or ident in _BINARY_PROPS:
            n = struct.unpack_from("!H", data, pos)[0]
            raw = data[pos + 2:pos + 2 + n]
            value, pos = (raw.decode() if ident in _STRING_PROPS else raw), pos + 2 + n
        elif ident == 0x26:
            n = struct.unpack_from("!H", data, pos)[0]
            key = data[pos + 2:pos + 2 + n].decode()
            pos += 2 + n
            n = struct.unpack_from("!H", data, pos)[0]
            value, pos = (key, data[pos + 2:pos + 2 + n].decode()), pos + 2 + n
        else:
            raise ValueError(f"unknown property 0x{ident:02x}")
        props.setdefault(ident, []).append(value)
    return props, end


class RawTLSClient:
    """A TLS socket speaking hand-built MQTT."""

    def __init__(self, server: Server, device: Device | None, *, cert: Path | None = None, key: Path | None = None,
                 timeout: float = WAIT):
        ctx = ssl.create_default_context(cafile=str(device.ca if device else server.ca_cert))
        cert = cert or (device.cert if device else None)
        key = key or (device.key if device else None)
        if cert:
            ctx.load_cert_chain(str(cert), str(key))
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.local_port = self.sock.getsockname()[1]
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False on EOF (a TLS alert or reset counts as EOF)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
            self.last_error = error
            return False
        except socket.timeout:
            raise TimeoutError("no data from the server in time")
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def read_packet(self, timeout: float = WAIT) -> tuple[int, int, bytes] | None:
        """(type, flags, body) of the next packet, or None if the server closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            buf = self._buffer
            if len(buf) >= 2:
                length, multiplier, i = 0, 1, 1
                complete = False
                while i < len(buf) and i <= 4:
                    length += (buf[i] & 0x7F) * multiplier
                    multiplier *= 128
                    if not buf[i] & 0x80:
                        complete = True
                        break
                    i += 1
                if complete and len(buf) >= i + 1 + length:
                    first = buf[0]
                    body = buf[i + 1:i + 1 + length]
                    self._buffer = buf[i + 1 + length:]
                    return first >> 4, first & 0x0F, body
            if not self._fill(deadline):
                return None

    def read_until_closed(self, timeout: float = WAIT) -> list[tuple[int, int, bytes]]:
        """Every packet until the server closes; fails if it is still open after `timeout`."""
        packets = []
        deadline = time.monotonic() + timeout
        while True:
            p = self.read_packet(max(0.01, deadline - time.monotonic()))
            if p is None:
                return packets
            packets.append(p)

    def abort(self) -> None:
        """Closes the TCP connection without DISCONNECT or TLS close_notify."""
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------------
# Certificates the gateway must refuse


def make_foreign_ca_device(workdir: Path, name: str = "foreign-device") -> tuple[Path, Path]:
    """A device certificate and key signed by a CA the gateway has never seen (openssl)."""
    workdir.mkdir(parents=True, exist_ok=True)
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30, cwd=workdir)
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other-ca.key")
    run("req", "-x509", "-new", "-key", "other-ca.key", "-sha256", "-days", "30", "-subj", "/O=Elsewhere/CN=Other CA",
        "-out", "other-ca.pem")
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
    run("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
    (workdir / "client-ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n")
    run("x509", "-req", "-in", f"{name}.csr", "-CA", "other-ca.pem", "-CAkey", "other-ca.key", "-CAcreateserial",
        "-days", "30", "-sha256", "-extfile", "client-ext.cnf", "-out", f"{name}.pem")
    return workdir / f"{name}.pem", workdir / f"{name}.key"


def make_expired_device(server: Server, workdir: Path, name: str = "expired-device") -> tuple[Path, Path]:
    """A device certificate signed by the gateway's own CA whose validity ended yesterday (cryptography)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return make_gateway_signed_device(server, workdir, name, now - datetime.timedelta(days=30),
                                      now - datetime.timedelta(days=1))


def make_not_yet_valid_device(server: Server, workdir: Path, name: str = "future-device") -> tuple[Path, Path]:
    """Signed by the gateway's own CA, valid only from tomorrow."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return make_gateway_signed_device(server, workdir, name, now + datetime.timedelta(days=1),
                                      now + datetime.timedelta(days=30))


def make_gateway_signed_device(server: Server, workdir: Path, name: str, not_before: datetime.datetime,
                               not_after: datetime.datetime, key_type: str = "ec-p256",
                               register: str | None = "ACTIVE", policy: bool = True) -> tuple[Path, Path]:
    """A client certificate like `device mint` makes (same extensions), with the given validity and key type
    (ec-p256, ec-p384, rsa-2048 or rsa-1024), registered through the API with status `register` (None: not at all), so
    that only what the test changes (the dates) is wrong with it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    workdir.mkdir(parents=True, exist_ok=True)
    ca_cert = x509.load_pem_x509_certificate(server.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(server.ca_key.read_bytes(), password=None)
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = {"ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
           "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
           "rsa-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
           "rsa-1024": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024)}[key_type]()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = workdir / f"{name}.pem", workdir / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    if register:
        iot = iot_client(server)
        arn = iot.register_certificate(certificatePem=cert_path.read_text(), status=register)["certificateArn"]
        if policy:
            iot.attach_policy(policyName=server.ensure_allow_all_policy(), target=arn)
    return cert_path, key_path


# -- the AWS-compatible API ------------------------------------------------------------------------

def admin_keys(server: Server) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(server.data_dir / "admin" / "credentials")
    return parser["portcullis"]["aws_access_key_id"], parser["portcullis"]["aws_secret_access_key"]


def endpoint(server: Server) -> str:
    return f"https://localhost:{server.api_port}"


def iot_client(server: Server, key: str | None = None, secret: str | None = None, region: str = "us-east-1"):
    import boto3
    import botocore.config
    default_key, default_secret = admin_keys(server)
    return boto3.client("iot", region_name=region, endpoint_url=endpoint(server), verify=str(server.ca_cert),
                        aws_access_key_id=key or default_key, aws_secret_access_key=secret or default_secret,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def aws_error(call) -> tuple[str, int]:
    """The AWS error code and HTTP status a boto3 call is refused with (it must be refused)."""
    from botocore.exceptions import ClientError
    try:
        call()
    except ClientError as refused:
        response = refused.response
        return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call was not refused")


def aws_error_message(call) -> tuple[str, str]:
    """The AWS error code and message a boto3 call is refused with (it must be refused)."""
    from botocore.exceptions import ClientError
    try:
        call()
    except ClientError as refused:
        return refused.response["Error"]["Code"], refused.response["Error"].get("Message", "")
    raise AssertionError("the call was not refused")


def send_request(server: Server, request) -> tuple[int, dict, dict]:
    """Sends a prepared botocore AWSRequest to the API; returns status, headers (lower-case names) and the JSON body."""
    import ssl
    import urllib.error
    import urllib.request
    context = ssl.create_default_context(cafile=str(server.ca_cert))
    raw = urllib.request.Request(request.url, data=request.body or None, method=request.method,
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(raw, context=context, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, json.loads(error.read() or b"{}")


def awscli(server: Server, service: str = "iot", check: bool = True):
    """`aws --profile portcullis <service> ...` with the generated profile and nothing else from the
    environment; returns a function running one command and giving its JSON output (with check=False, the
    CompletedProcess)."""
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(server.data_dir / "admin" / "credentials"),
               AWS_CONFIG_FILE=str(server.data_dir / "admin" / "config"))
    aws = [str(Path(sys.executable).parent / "aws"), "--profile", "portcullis", service]

    def run(*args):
        result = subprocess.run(aws + list(args), capture_output=True, text=True, env=env, timeout=60)
        if not check:
            return result
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}
    return run
