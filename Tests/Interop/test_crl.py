"""Certificate revocation lists from outside: lists made by `openssl ca` and by `portcullis crl issue`,
uploaded with the CLI; mosquitto clients on the list are refused at the handshake although registered
ACTIVE, and a live mosquitto_sub is closed when the list arrives. Bad uploads get a clear error."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from interop_support import MosquittoSub, Server, mosquitto_pub, unique, wait_until


@pytest.fixture(scope="module")
def crl_server(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("crl")).start()
    yield srv
    srv.stop()


def cli(srv: Server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(srv.binary), "crl", *args, "--data-dir", str(srv.data_dir)], capture_output=True, text=True,
                          timeout=60)


def openssl_crl(srv: Server, workdir: Path, revoke: list[Path], der: bool = False) -> Path:
    """A CRL made by `openssl ca` with the gateway's CA key, revoking `revoke`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "index.txt").write_text("")
    (workdir / "crlnumber").write_text(f"{int(time.time() * 1000):012X}\n")  # an even number of hex digits
    config = workdir / "ca.cnf"
    config.write_text(f"[ ca ]\ndefault_ca = local\n[ local ]\ndatabase = {workdir}/index.txt\n"
                      f"crlnumber = {workdir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n")
    base = ["openssl", "ca", "-config", str(config), "-keyfile", str(srv.ca_key), "-cert", str(srv.ca_cert)]
    for cert in revoke:
        subprocess.run(base + ["-revoke", str(cert)], check=True, capture_output=True)
    out = workdir / "crl.pem"
    subprocess.run(base + ["-gencrl", "-out", str(out)], check=True, capture_output=True)
    if der:
        der_out = workdir / "crl.der"
        subprocess.run(["openssl", "crl", "-in", str(out), "-outform", "DER", "-out", str(der_out)], check=True)
        return der_out
    return out


def connects(srv: Server, device, client_id: str) -> bool:
    return mosquitto_pub(srv, device, client_id, "crl/probe", message="x", qos=1).returncode == 0


@pytest.mark.parametrize("der", [False, True])
def test_an_openssl_crl_refuses_the_device_and_closes_its_live_subscription(crl_server, tmp_path, der):
    srv = crl_server
    victim = srv.mint(unique("victim"))
    bystander = srv.mint(unique("bystander"))
    assert connects(srv, victim, unique("before"))
    mark = srv.log_mark()
    sub = MosquittoSub(srv, victim, unique("victim-sub"), "crl/live/#")
    try:
        sub.wait_subscribed()
        upload = cli(srv, "upload", "--ca", "local", str(openssl_crl(srv, tmp_path / "ca", [victim.cert], der=der)))
        assert upload.returncode == 0, upload.stderr + upload.stdout
        assert "revokedCount: 1" in upload.stdout
        code, _, _ = sub.finish(timeout=15)
        assert code != 0 or sub.proc.returncode is not None, "the live subscription was closed"
    finally:
        sub.close()
    assert wait_until(lambda: srv.find_log(since=mark, eventType="Disconnect", clientId=sub.client_id))
    assert not connects(srv, victim, unique("after")), "refused at the handshake although ACTIVE"
    refusals = wait_until(lambda: [e for e in srv.find_log(since=mark, eventType="Connect", status="Failure")
                                   if victim.cert_id in e.get("details", "")])
    assert refusals and "revocation list" in refusals[0]["details"], refusals
    assert connects(srv, bystander, unique("bystander")), "a certificate not on the list still connects"
    # Lifting the list lets the device back in.
    deleted = cli(srv, "delete", "--ca", "local")
    assert deleted.returncode == 0, deleted.stderr
    assert connects(srv, victim, unique("lifted"))


def test_portcullis_crl_issue_show_and_rollback_protection(crl_server, tmp_path):
    srv = crl_server
    victim = srv.mint(unique("issued"))
    newer, older = tmp_path / "newer.pem", tmp_path / "older.pem"
    for path, number in ((older, 100), (newer, 200)):
        made = subprocess.run([str(srv.binary), "crl", "issue", str(victim.cert), "--out", str(path), "--number", str(number),
                               "--data-dir", str(srv.data_dir)], capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
    # openssl agrees the list is the gateway CA's and lists the serial.
    text = subprocess.run(["openssl", "crl", "-in", str(newer), "-CAfile", str(srv.ca_cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True)
    assert "verify OK" in text.stderr + text.stdout
    assert cli(srv, "upload", "--ca", "local", str(newer)).returncode == 0
    shown = cli(srv, "show", "--ca", "local")
    assert shown.returncode == 0 and "revokedCount: 1" in shown.stdout and "crlNumber: 200" in shown.stdout and "stale: no" in shown.stdout, shown.stdout
    assert not connects(srv, victim, unique("issued"))
    rollback = cli(srv, "upload", "--ca", "local", str(older))
    assert rollback.returncode != 0 and "InvalidRequestException" in rollback.stderr + rollback.stdout
    # Refused as a rollback: by its number, or by its thisUpdate when the two were issued across a second.
    said = rollback.stderr + rollback.stdout
    assert "below the number" in said or "older than the one in place" in said, said
    assert cli(srv, "delete", "--ca", "local").returncode == 0


def test_bad_uploads_are_refused_with_a_clear_error(crl_server, tmp_path, portcullis_bin, tmp_path_factory):
    srv = crl_server
    garbage = tmp_path / "garbage.crl"
    garbage.write_bytes(b"\x30\x82\x01\x00not a crl")
    answer = cli(srv, "upload", "--ca", "local", str(garbage))
    assert answer.returncode != 0 and "InvalidRequestException" in answer.stderr + answer.stdout
    assert "not a certificate revocation list" in answer.stderr + answer.stdout
    # A list signed by another CA (another gateway's) is refused.
    other = Server(portcullis_bin, tmp_path_factory.mktemp("crl-other")).start()
    try:
        foreign = openssl_crl(other, tmp_path / "other", [])
    finally:
        other.stop()
    answer = cli(srv, "upload", "--ca", "local", str(foreign))
    assert answer.returncode != 0 and "not signed by the CA certificate" in answer.stderr + answer.stdout
    unknown = cli(srv, "upload", "--ca", "ab" * 32, str(foreign))
    assert unknown.returncode != 0 and "ResourceNotFoundException" in unknown.stderr + unknown.stdout
    bad_id = cli(srv, "show", "--ca", "nope")
    assert bad_id.returncode != 0 and "64 hex digits" in bad_id.stderr
    missing = cli(srv, "show", "--ca", "local")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr + missing.stdout
