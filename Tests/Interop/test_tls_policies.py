"""TLS security policies (reference 1.4.1) seen from outside: sslscan enumerates what each policy really
offers, openssl s_client checks what must be refused (TLS 1.1, weak ciphers, session tickets, resumption)
and which server chain (ECDSA or RSA) a client gets.

The expected lists are AWS's table, less the five suites BoringSSL does not implement (DHE-RSA-AES256-SHA,
AES128-SHA256, AES256-SHA256, ECDHE-RSA-AES256-SHA384, ECDHE-ECDSA-AES256-SHA384); nothing else may appear."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from interop_support import Server

NOT_IN_BORINGSSL = {"DHE-RSA-AES256-SHA", "AES128-SHA256", "AES256-SHA256", "ECDHE-RSA-AES256-SHA384",
                    "ECDHE-ECDSA-AES256-SHA384"}
ECDHE = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-GCM-SHA384",
         "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
         "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA"]
RSA = ["AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA"]
TLS13_ALL = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

# policy -> (TLS 1.2 suites of the table on 8883, TLS 1.3 suites). Port 8883 is a dedicated port (D2, E2).
TABLE = {
    "TLS13_1_3_2022_10": (set(), TLS13_ALL),
    "TLS13_1_2_2022_10": (set(ECDHE + RSA), TLS13_ALL),
    "TLS12_1_2_2022_10": (set(ECDHE + RSA), set()),
    "TLS12_1_0_2016_01": (set(ECDHE + RSA) - {"AES128-SHA256"}, set()),
    "TLS12_1_0_2015_01": (set(ECDHE + RSA) | {"DHE-RSA-AES256-SHA"}, set()),
    "TLS13_1_2_2022_01": (set(ECDHE) | {"AES128-SHA", "AES256-SHA"}, {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"}),
}
# Both prefixes and any case are accepted; each policy is started with another spelling.
SPELLINGS = {
    "TLS13_1_3_2022_10": "IoTSecurityPolicy_TLS13_1_3_2022_10",
    "TLS13_1_2_2022_10": "IotSecurityPolicy_TLS13_1_2_2022_10",
    "TLS12_1_2_2022_10": "iotsecuritypolicy_tls12_1_2_2022_10",
    "TLS12_1_0_2016_01": "IoTSecurityPolicy_TLS12_1_0_2016_01",
    "TLS12_1_0_2015_01": "IotSecurityPolicy_TLS12_1_0_2015_01",
    "TLS13_1_2_2022_01": "IOTSECURITYPOLICY_TLS13_1_2_2022_01",
}

pytestmark = pytest.mark.skipif(shutil.which("sslscan") is None or shutil.which("openssl") is None,
                                reason="sslscan and openssl are installed by scripts/test")


@pytest.fixture(scope="module")
def policy_servers(portcullis_bin, tmp_path_factory):
    """One gateway per policy, started on first use, each with a registered device."""
    started: dict[str, tuple[Server, object]] = {}

    def get(policy: str):
        if policy not in started:
            srv = Server(portcullis_bin, tmp_path_factory.mktemp(f"tls-{policy.lower()}"),
                         config={"tls": {"securityPolicy": SPELLINGS[policy]}}).start()
            started[policy] = (srv, srv.mint("tls-scan"))
        return started[policy]

    yield get
    for srv, _ in started.values():
        srv.stop()


def sslscan(srv: Server, dev) -> dict[str, set[str]]:
    """sslscan's view: accepted cipher names per protocol version, and the protocols it saw enabled."""
    out = subprocess.run(["sslscan", "--xml=-", "--no-colour", "--no-check-certificate", "--no-heartbleed",
                          "--no-renegotiation", "--no-compression", "--no-fallback", "--no-groups",
                          f"--certs={dev.cert}", f"--pk={dev.key}", f"127.0.0.1:{srv.port}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    root = ET.fromstring(out.stdout[out.stdout.index("<?xml"):])
    seen: dict[str, set[str]] = {"TLSv1.2": set(), "TLSv1.3": set(), "protocols": set()}
    for cipher in root.iter("cipher"):
        if cipher.get("status") in ("accepted", "preferred"):
            seen.setdefault(cipher.get("sslversion"), set()).add(cipher.get("cipher"))
    for protocol in root.iter("protocol"):
        if protocol.get("enabled") == "1":
            seen["protocols"].add(f"{protocol.get('type').upper()}v{protocol.get('version')}")
    return seen


def s_client(srv: Server, dev, *args: str, send_connect: bool = True) -> str:
    """One openssl s_client handshake with the device certificate (and an MQTT CONNECT, so TLS 1.3
    tickets, which come after the handshake, would have been sent, then DISCONNECT); returns everything
    it printed."""
    connect = bytes([0x10, 0x14, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x08]) + b"tls-scan"
    connect += bytes([0xE0, 0x00])  # DISCONNECT: the server closes, and s_client ends
    proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-servername", "localhost",
                           "-CAfile", str(dev.ca), "-cert", str(dev.cert), "-key", str(dev.key), "-ign_eof", *args],
                          input=connect if send_connect else b"", capture_output=True, timeout=30)
    return (proc.stdout + proc.stderr).decode(errors="replace")


def negotiated(output: str) -> tuple[str, str] | None:
    match = re.search(r"^New, (\S+), Cipher is (\S+)", output, re.M)
    return None if match is None or match.group(2) == "(NONE)" else (match.group(1), match.group(2))


@pytest.mark.parametrize("policy", list(TABLE))
def test_sslscan_sees_exactly_the_policy(policy_servers, policy):
    srv, dev = policy_servers(policy)
    tls12, tls13 = TABLE[policy]
    seen = sslscan(srv, dev)
    assert seen["TLSv1.2"] == tls12 - NOT_IN_BORINGSSL, f"{policy} TLS 1.2 suites"
    assert seen["TLSv1.3"] == tls13, f"{policy} TLS 1.3 suites"
    expected_protocols = ({"TLSv1.2"} if tls12 else set()) | ({"TLSv1.3"} if tls13 else set())
    assert seen["protocols"] & {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"} == expected_protocols
    assert not set(seen) - {"TLSv1.2", "TLSv1.3", "protocols"}, f"other versions accepted: {seen}"


@pytest.mark.parametrize("policy", ["TLS13_1_2_2022_10", "TLS12_1_0_2015_01"])
def test_tls11_and_tls10_are_refused(policy_servers, policy):
    srv, dev = policy_servers(policy)
    for version in ("-tls1_1", "-tls1"):
        output = s_client(srv, dev, version, "-cipher", "DEFAULT:@SECLEVEL=0")
        assert negotiated(output) is None, output
        assert "alert protocol version" in output, output


@pytest.mark.parametrize("cipher", ["NULL-SHA256:@SECLEVEL=0", "ECDHE-RSA-CHACHA20-POLY1305", "CAMELLIA128-SHA:@SECLEVEL=0",
                                    "DHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-ARIA128-GCM-SHA256"])
def test_weak_and_unlisted_ciphers_are_refused(policy_servers, cipher):
    srv, dev = policy_servers("TLS13_1_2_2022_10")
    output = s_client(srv, dev, "-tls1_2", "-cipher", cipher)
    assert negotiated(output) is None, output
    assert "alert handshake failure" in output, output


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_no_session_tickets_and_no_resumption(policy_servers, tmp_path, version):
    srv, dev = policy_servers("TLS13_1_2_2022_10")
    session = tmp_path / "session.pem"
    output = s_client(srv, dev, version, "-msg", "-sess_out", str(session))
    assert negotiated(output), output
    assert "NewSessionTicket" not in output, "the server sent a session ticket"
    assert "TLS session ticket:" not in output
    # A session id the server does not cache cannot be resumed either: each connection is a full handshake,
    # so the client certificate is checked again every time.
    if session.exists():
        again = s_client(srv, dev, version, "-sess_in", str(session))
        assert negotiated(again), again
        assert "Reused," not in again and re.search(r"^New,", again, re.M), again


def test_session_ticket_extension_offered_by_the_client_gets_none(policy_servers):
    """OpenSSL offers the SessionTicket extension by default in TLS 1.2; the server must not answer it."""
    srv, dev = policy_servers("TLS12_1_2_2022_10")
    output = s_client(srv, dev, "-tls1_2", "-msg", "-tlsextdebug")
    assert negotiated(output), output
    client_hello, _, server_part = output.partition("ServerHello")
    hello_hex = "".join(line.strip().replace(" ", "") for line in client_hello.partition("ClientHello")[2].splitlines()
                        if re.fullmatch(r"\s+([0-9a-f]{2} ?)+", line))
    assert "00230000" in hello_hex, "the client offered an empty SessionTicket extension (type 0x0023)"
    assert "TLS server extension \"session ticket\"" not in server_part, "the server accepted the SessionTicket extension"
    assert "NewSessionTicket" not in server_part


@pytest.mark.parametrize("cipher,key", [("ECDHE-ECDSA-AES128-GCM-SHA256", "256"), ("ECDHE-RSA-AES128-GCM-SHA256", "2048"),
                                        ("AES256-SHA", "2048")])
def test_the_chain_follows_what_the_client_supports(policy_servers, cipher, key):
    srv, dev = policy_servers("TLS13_1_2_2022_10")
    output = s_client(srv, dev, "-tls1_2", "-cipher", cipher)
    assert negotiated(output) == ("TLSv1.2" if "GCM" in cipher else "SSLv3", cipher), output
    assert f"Server public key is {key} bit" in output, output


@pytest.mark.parametrize("sigalgs,key", [("ecdsa_secp256r1_sha256", "256"), ("rsa_pss_rsae_sha256", "2048")])
def test_tls13_chain_follows_the_signature_algorithms(policy_servers, sigalgs, key):
    srv, dev = policy_servers("TLS13_1_2_2022_10")
    output = s_client(srv, dev, "-tls1_3", "-sigalgs", sigalgs)
    assert negotiated(output) and negotiated(output)[0] == "TLSv1.3", output
    assert f"Server public key is {key} bit" in output, output


def test_mqtt_works_under_a_tls12_only_policy_with_mosquitto(policy_servers):
    srv, dev = policy_servers("TLS12_1_0_2016_01")
    proc = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(srv.port), "-i", "tls-scan", "-t", "tls/policy",
                           "-m", "hi", "-q", "1", "--cafile", str(dev.ca), "--cert", str(dev.cert), "--key", str(dev.key)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    refused = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(srv.port), "-i", "tls-scan-13", "-t", "tls/policy",
                              "-m", "hi", "--tls-version", "tlsv1.3", "--cafile", str(dev.ca), "--cert", str(dev.cert),
                              "--key", str(dev.key)], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0, "TLS 1.3 must be refused under TLS12_1_0_2016_01"


def test_an_unknown_policy_stops_the_server_with_a_clear_message(portcullis_bin, tmp_path):
    proc = subprocess.run([str(portcullis_bin), "serve", "--data-dir", str(tmp_path / "d"), "--mqtt-listen", "127.0.0.1:0",
                           "--api-listen", "none", "--tls-security-policy", "IoTSecurityPolicy_TLS11"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "IoTSecurityPolicy_TLS11" in proc.stderr and "IoTSecurityPolicy_TLS13_1_2_2022_10" in proc.stderr
