"""Domain configurations and their server certificates from outside: certificates imported with
`aws acm import-certificate` (JSON 1.1 on the wire), domains managed with `aws iot *-domain-configuration`,
and what a device then gets for its server name, seen with openssl s_client and a raw MQTT client over
Python's ssl: the domain's certificate and security policy, a refusal when disabled, the new certificate
after a re-import, and the default certificate replaced on disk without a restart."""

from __future__ import annotations

import datetime
import json
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from interop_support import Server, awscli, connect_packet, unique, wait_until, V311

DOMAIN = "iot.example.com"


@pytest.fixture(scope="module")
def domain_server(portcullis_bin, tmp_path_factory):
    srv = Server(portcullis_bin, tmp_path_factory.mktemp("domains")).start()
    yield srv
    srv.stop()


def make_server_certificate(workdir: Path, names: list[str], *, ca=None, server_auth: bool = True, days: int = 30):
    """A CA (made here unless given) and a P-256 server certificate for `names` signed by it (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    workdir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Domain CA {unique('ca')}")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        ca = (ca_cert, ca_key)
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server_auth else [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"cert": workdir / "cert.pem", "key": workdir / "key.pem", "ca": workdir / "ca.pem"}
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return paths, ca, format(cert.serial_number, "X")


def served(srv: Server, device, server_name: str | None, *args: str) -> str:
    """openssl s_client's view of one handshake with the device certificate (and a CONNECT + DISCONNECT)."""
    sni = ["-servername", server_name] if server_name else ["-noservername"]
    connect = bytes([0x10, 0x14, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x08]) + b"sni-test" + bytes([0xE0, 0x00])
    proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", *sni, "-cert", str(device.cert),
                           "-key", str(device.key), "-ign_eof", *args], input=connect, capture_output=True, timeout=30)
    return (proc.stdout + proc.stderr).decode(errors="replace")


def negotiated(output: str) -> tuple[str, str] | None:
    match = re.search(r"^New, (\S+), Cipher is (\S+)", output, re.M)
    return None if match is None or match.group(2) == "(NONE)" else (match.group(1), match.group(2))


def served_serial(output: str) -> str | None:
    """The serial of the leaf the server sent (openssl -showcerts prints the PEM; parse it)."""
    from cryptography import x509
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", output, re.S)
    return format(x509.load_pem_x509_certificate(match.group(0).encode()).serial_number, "X") if match else None


def mqtt_over_sni(srv: Server, device, server_name: str, ca: Path) -> int:
    """A raw MQTT 3.1.1 CONNECT over Python's ssl with the given SNI and the domain's CA; the CONNACK code."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(device.cert), str(device.key))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as sock:
            sock.sendall(connect_packet(unique("sni"), V311))
            data = sock.recv(4)
            return data[3]


def test_acm_import_describe_list_and_refusals(domain_server, tmp_path):
    acm = awscli(domain_server, "acm")
    paths, _, serial = make_server_certificate(tmp_path / "a", [DOMAIN])
    arn = acm("import-certificate", "--certificate", f"fileb://{paths['cert']}", "--private-key", f"fileb://{paths['key']}",
              "--certificate-chain", f"fileb://{paths['ca']}")["CertificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:123456789012:certificate/")
    detail = acm("describe-certificate", "--certificate-arn", arn)["Certificate"]
    assert detail["DomainName"] == DOMAIN and detail["Status"] == "ISSUED" and detail["Type"] == "IMPORTED"
    assert detail["KeyAlgorithm"] == "EC_prime256v1" and detail["SubjectAlternativeNames"] == [DOMAIN]
    assert detail["Serial"].replace(":", "").upper().lstrip("0") == serial.lstrip("0")
    assert "PRIVATE KEY" not in json.dumps(detail), "the key is never returned"
    listed = acm("list-certificates")["CertificateSummaryList"]
    assert arn in [c["CertificateArn"] for c in listed]

    other, _, _ = make_server_certificate(tmp_path / "b", [DOMAIN])
    refused = awscli(domain_server, "acm", check=False)("import-certificate", "--certificate", f"fileb://{paths['cert']}",
                                                        "--private-key", f"fileb://{other['key']}")
    assert refused.returncode != 0 and "ValidationException" in refused.stderr and "does not match" in refused.stderr
    missing = awscli(domain_server, "acm", check=False)("describe-certificate", "--certificate-arn", arn + "0")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    acm("delete-certificate", "--certificate-arn", arn)
    gone = awscli(domain_server, "acm", check=False)("describe-certificate", "--certificate-arn", arn)
    assert "ResourceNotFoundException" in gone.stderr
    foreign = awscli(domain_server, "acm", check=False)("describe-certificate", "--certificate-arn",
                                                        "arn:aws:acm:eu-west-1:123456789012:certificate/abc")
    assert foreign.returncode != 0 and "InvalidArnException" in foreign.stderr
    import boto3
    from interop_support import admin_keys, aws_error, endpoint
    key, secret = admin_keys(domain_server)
    acm_client = boto3.client("acm", region_name="us-east-1", endpoint_url=endpoint(domain_server), verify=str(domain_server.ca_cert),
                              aws_access_key_id=key, aws_secret_access_key=secret)
    assert aws_error(lambda: acm_client.list_certificates(NextToken="nope"))[0] == "InvalidArgsException"
    assert aws_error(lambda: acm_client.list_certificates(MaxItems=5000))[0] in ("ValidationException", "ParamValidationError")
    unknown = awscli(domain_server, "iot", check=False)("update-domain-configuration", "--domain-configuration-name", "no-such",
                                                        "--domain-configuration-status", "DISABLED")
    assert unknown.returncode != 0 and "ResourceNotFoundException" in unknown.stderr


def test_sni_selects_the_domain_certificate_and_policy_and_follows_changes(domain_server, tmp_path):
    srv = domain_server
    acm, iot = awscli(srv, "acm"), awscli(srv, "iot")
    iot_check = awscli(srv, "iot", check=False)
    device = srv.mint(unique("sni-device"))
    paths, ca, serial = make_server_certificate(tmp_path / "first", [DOMAIN])
    arn = acm("import-certificate", "--certificate", f"fileb://{paths['cert']}", "--private-key", f"fileb://{paths['key']}")["CertificateArn"]

    uncovered = iot_check("create-domain-configuration", "--domain-configuration-name", "wrong", "--domain-name", "other.example.com",
                          "--server-certificate-arns", arn)
    assert uncovered.returncode != 0 and "CertificateValidationException" in uncovered.stderr
    created = iot("create-domain-configuration", "--domain-configuration-name", "custom", "--domain-name", DOMAIN,
                  "--server-certificate-arns", arn, "--tls-config", "securityPolicy=IotSecurityPolicy_TLS12_1_2_2022_10")
    assert created["domainConfigurationName"] == "custom"
    assert created["domainConfigurationArn"].startswith("arn:aws:iot:us-east-1:123456789012:domainconfiguration/custom/")
    described = iot("describe-domain-configuration", "--domain-configuration-name", "custom")
    assert described["domainName"] == DOMAIN and described["domainConfigurationStatus"] == "ENABLED"
    assert described["tlsConfig"]["securityPolicy"] == "IoTSecurityPolicy_TLS12_1_2_2022_10"
    assert described["serverCertificates"][0]["serverCertificateArn"] == arn
    assert described["serverCertificates"][0]["serverCertificateStatus"] == "VALID"
    names = [d["domainConfigurationName"] for d in iot("list-domain-configurations")["domainConfigurations"]]
    assert names[0] == "iot:Data-ATS" and "custom" in names
    default = iot("describe-domain-configuration", "--domain-configuration-name", "iot:Data-ATS")
    assert default["domainType"] == "ENDPOINT" and default["tlsConfig"]["securityPolicy"] == "IoTSecurityPolicy_TLS13_1_2_2022_10"

    # The domain's certificate and policy for its name; the default for no name or another name.
    out = served(srv, device, DOMAIN, "-showcerts")
    assert negotiated(out) and negotiated(out)[0] == "TLSv1.2", out
    assert served_serial(out) == serial
    assert negotiated(served(srv, device, DOMAIN, "-tls1_3")) is None, "TLS12_1_2_2022_10 has no TLS 1.3"
    assert mqtt_over_sni(srv, device, DOMAIN, paths["ca"]) == 0, "a device verifying the domain's chain connects"
    for name in (None, "localhost", "127.0.0.1", "unknown.example.net"):
        out = served(srv, device, name, "-showcerts")
        assert negotiated(out) and negotiated(out)[0] == "TLSv1.3", (name, out)
        assert served_serial(out) != serial

    # Disabled: refused with a reason in the log. Deleting needs it disabled first.
    enabled_delete = iot_check("delete-domain-configuration", "--domain-configuration-name", "custom")
    assert enabled_delete.returncode != 0 and "InvalidRequestException" in enabled_delete.stderr
    mark = srv.log_mark()
    iot("update-domain-configuration", "--domain-configuration-name", "custom", "--domain-configuration-status", "DISABLED")
    assert negotiated(served(srv, device, DOMAIN)) is None
    assert wait_until(lambda: [e for e in srv.find_log(since=mark, eventType="Connect", status="Failure") if "DISABLED" in e.get("details", "")])
    iot("update-domain-configuration", "--domain-configuration-name", "custom", "--domain-configuration-status", "ENABLED")
    assert negotiated(served(srv, device, DOMAIN))

    # Rotation: a re-import under the same ARN is served to the next handshake.
    rotated, _, rotated_serial = make_server_certificate(tmp_path / "rotated", [DOMAIN], ca=ca)
    again = acm("import-certificate", "--certificate-arn", arn, "--certificate", f"fileb://{rotated['cert']}",
                "--private-key", f"fileb://{rotated['key']}")
    assert again["CertificateArn"] == arn
    assert served_serial(served(srv, device, DOMAIN, "-showcerts")) == rotated_serial
    renamed, _, _ = make_server_certificate(tmp_path / "renamed", ["other.example.com"], ca=ca)
    refused = awscli(srv, "acm", check=False)("import-certificate", "--certificate-arn", arn, "--certificate",
                                               f"fileb://{renamed['cert']}", "--private-key", f"fileb://{renamed['key']}")
    assert refused.returncode != 0 and "in use by a domain configuration" in refused.stderr
    in_use = awscli(srv, "acm", check=False)("delete-certificate", "--certificate-arn", arn)
    assert in_use.returncode != 0 and "ResourceInUseException" in in_use.stderr

    # The default domain's policy, changed live.
    iot("update-domain-configuration", "--domain-configuration-name", "iot:Data-ATS", "--tls-config",
        "securityPolicy=IoTSecurityPolicy_TLS13_1_3_2022_10")
    assert negotiated(served(srv, device, "localhost", "-tls1_2")) is None
    iot("update-domain-configuration", "--domain-configuration-name", "iot:Data-ATS", "--tls-config",
        "securityPolicy=IoTSecurityPolicy_TLS13_1_2_2022_10")
    assert negotiated(served(srv, device, "localhost", "-tls1_2"))
    # A region's own iot:Data-ATS policy applies to that region's names, and to no other.
    iot("update-domain-configuration", "--region", "eu-west-1", "--domain-configuration-name", "iot:Data-ATS", "--tls-config",
        "securityPolicy=IoTSecurityPolicy_TLS13_1_3_2022_10")
    assert negotiated(served(srv, device, "iot.eu-west-1.localhost", "-tls1_2")) is None
    assert negotiated(served(srv, device, "iot.eu-west-1.localhost", "-tls1_3"))
    assert negotiated(served(srv, device, "iot.eu-west-2.localhost", "-tls1_2"))
    assert negotiated(served(srv, device, "localhost", "-tls1_2"))
    iot("update-domain-configuration", "--region", "eu-west-1", "--domain-configuration-name", "iot:Data-ATS", "--tls-config",
        "securityPolicy=IoTSecurityPolicy_TLS13_1_2_2022_10")
    assert negotiated(served(srv, device, "iot.eu-west-1.localhost", "-tls1_2"))

    iot("update-domain-configuration", "--domain-configuration-name", "custom", "--domain-configuration-status", "DISABLED")
    iot("delete-domain-configuration", "--domain-configuration-name", "custom")
    acm("delete-certificate", "--certificate-arn", arn)
    assert "custom" not in [d["domainConfigurationName"] for d in iot("list-domain-configurations")["domainConfigurations"]]


def test_unsupported_domain_settings_are_refused_clearly(domain_server, tmp_path):
    srv = domain_server
    acm, iot_check = awscli(srv, "acm"), awscli(srv, "iot", check=False)
    paths, _, _ = make_server_certificate(tmp_path / "u", ["u.example.com"])
    arn = acm("import-certificate", "--certificate", f"fileb://{paths['cert']}", "--private-key", f"fileb://{paths['key']}")["CertificateArn"]
    for extra, text in ((["--authentication-type", "CUSTOM_AUTH"], "custom authorizer"),
                        (["--server-certificate-config", "enableOCSPCheck=true"], "OCSP"),
                        (["--tls-config", "securityPolicy=IoTSecurityPolicy_TLS11"], "not a TLS security policy"),
                        (["--service-type", "JOBS"], "only DATA")):
        result = iot_check("create-domain-configuration", "--domain-configuration-name", unique("u"), "--domain-name", "u.example.com",
                           "--server-certificate-arns", arn, *extra)
        assert result.returncode != 0 and "InvalidRequestException" in result.stderr and text in result.stderr, (extra, result.stderr)
    reserved = iot_check("create-domain-configuration", "--domain-configuration-name", "iot:Mine", "--domain-name", "u.example.com",
                         "--server-certificate-arns", arn)
    assert reserved.returncode != 0
    client_only, _, _ = make_server_certificate(tmp_path / "c", ["c.example.com"], server_auth=False)
    carn = acm("import-certificate", "--certificate", f"fileb://{client_only['cert']}", "--private-key", f"fileb://{client_only['key']}")["CertificateArn"]
    no_eku = iot_check("create-domain-configuration", "--domain-configuration-name", "c", "--domain-name", "c.example.com",
                       "--server-certificate-arns", carn)
    assert no_eku.returncode != 0 and "serverAuth" in no_eku.stderr


def test_the_default_certificate_files_rotate_without_a_restart(domain_server, tmp_path):
    srv = domain_server
    device = srv.mint(unique("rotate-device"))
    before = served_serial(served(srv, device, "localhost", "-showcerts"))
    # A new certificate for the same names, signed by the gateway's CA, written over the files.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    gateway_ca = (x509.load_pem_x509_certificate(srv.ca_cert.read_bytes()),
                  serialization.load_pem_private_key(srv.ca_key.read_bytes(), password=None))
    paths, _, serial = make_server_certificate(tmp_path / "default", ["localhost"], ca=gateway_ca)
    server_dir = srv.data_dir / "server"
    (server_dir / "server.key").write_bytes(paths["key"].read_bytes())
    (server_dir / "server.pem").write_bytes(paths["cert"].read_bytes())
    assert wait_until(lambda: served_serial(served(srv, device, "localhost", "-showcerts")) == serial, timeout=20), \
        "the new default certificate is served within a few seconds"
    assert before != serial
    assert srv.find_log(message="server certificate reloaded"), "the reload is logged"
