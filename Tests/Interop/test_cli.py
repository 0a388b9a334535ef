"""The command line around the broker as a device owner meets it: ready file, banner, `device mint`,
`config print-default`."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interop_support import Server


def test_ready_file_and_data_directory(server):
    ready = json.loads(server.ready_file.read_text())
    assert ready["mqtt"] == [{"host": "127.0.0.1", "port": server.port}]
    assert ready["dataDirectory"] == str(server.data_dir)
    assert server.ca_cert.exists() and server.ca_key.exists()


def test_mint_before_first_start_fails_clearly(portcullis_bin, tmp_path):
    result = subprocess.run([str(portcullis_bin), "device", "mint", "early", "--data-dir", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "start the gateway" in result.stderr and "Usage" not in result.stderr


def test_config_print_default_is_json_and_is_accepted(portcullis_bin, tmp_path):
    result = subprocess.run([str(portcullis_bin), "config", "print-default"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["limits"]["maximumPayloadSize"] == 128 * 1024
    assert config["limits"]["maximumFiltersPerSubscribe"] == 8
    # The printed defaults are themselves a valid configuration file.
    config.pop("dataDirectory")
    config["mqtt"]["listen"] = ["127.0.0.1:0"]
    srv = Server(portcullis_bin, tmp_path / "defaults", config=config)
    try:
        srv.start()
        assert srv.port > 0
    finally:
        srv.stop()


def test_unknown_config_key_refused(portcullis_bin, tmp_path):
    srv = Server(portcullis_bin, tmp_path / "typo", config={"limits": {"publishesPerSecnd": 5}})
    with pytest.raises(RuntimeError, match="publishesPerSecnd"):
        srv.start(timeout=10)


def test_banner_shows_bound_port(server):
    banner = server.stderr_path.read_text()
    assert f":{server.port}" in banner and "-p 0 " not in banner, banner


# -- the first five minutes (issue 16): every command the program prints works when pasted ---------------

def printed_commands(text: str, header: str) -> list[str]:
    """The indented commands after `header` (continuation lines ending in a backslash joined)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 1
    commands, current = [], ""
    for line in lines[start:]:
        if not line.startswith(" "):
            break
        current += line.strip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        commands.append(current)
        current = ""
    return commands


def paste(command: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout, env=env)


def test_first_start_recipe_works_when_pasted(portcullis_bin, tmp_path):
    """A fresh data folder, the gateway on a port that is not 8883: the banner's commands, pasted in order,
    create two devices, and the second one's message reaches the first. Then the commands `device create`
    and `device mint` print work too, with the port the gateway really uses."""
    srv = Server(portcullis_bin, tmp_path / "first run")  # a space: every printed path must be quoted
    srv.start()
    sub = None
    try:
        assert srv.port != 8883
        banner = srv.stderr_path.read_text()
        commands = printed_commands(banner, "Connect two devices")
        assert len(commands) == 4, banner
        assert all(f"-p {srv.port} " in c for c in commands[2:]), commands
        # Pasted unchanged, in order, into one shell: the subscriber runs in the background (`&`), the
        # retained message reaches it whichever connects first.
        assert commands[2].endswith("&") and " -r " in commands[3]
        # stdbuf: mosquitto_sub's output is a pipe here, flushed per line as on a terminal.
        sub = subprocess.Popen(["stdbuf", "-oL", "bash", "-c", "\n".join(commands)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
        # The device commands print their summaries first; the subscriber's "hi" follows.
        deadline, printed = time.monotonic() + 60, []
        while "hi\n" not in printed:
            ready, _, _ = select.select([sub.stdout], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no 'hi' within 60 s; printed {printed!r}; stderr: {srv.stderr_path.read_text()[-2000:]}"
            line = sub.stdout.readline()
            assert line, f"the pasted commands ended without 'hi': {printed!r}"
            printed.append(line)
        os.killpg(sub.pid, signal.SIGTERM)
        sub.communicate(timeout=10)
        sub = None

        # The awscli line of the banner works as printed too (awscli from the test's virtualenv).
        aws_lines = printed_commands("x:\n" + "\n".join("  " + l.strip() for l in banner.splitlines()
                                                         if l.strip().startswith(("AWS_SHARED", "aws "))), "x:")
        assert len(aws_lines) == 1 and "describe-endpoint" in aws_lines[0], banner
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
        env.pop("AWS_CA_BUNDLE", None)
        described = paste(aws_lines[0], env=env)
        assert described.returncode == 0 and json.loads(described.stdout)["endpointAddress"] == "localhost", described.stderr

        # `device create` and `device mint` (no --policy) print a command that works as printed.
        for cli in (["device", "create", "lamp"], ["device", "mint", "sensor"]):
            result = subprocess.run([str(portcullis_bin), *cli, "--data-dir", str(srv.data_dir)], capture_output=True, text=True,
                                    timeout=60)
            assert result.returncode == 0, result.stderr
            printed = [c for c in printed_commands("x:\n" + "\n".join("  " + l for l in result.stdout.splitlines()), "x:")
                       if c.startswith("mosquitto_pub")]
            assert len(printed) == 1 and f"-p {srv.port} " in printed[0] and "-h 127.0.0.1 " in printed[0], result.stdout
            published = paste(printed[0])
            assert published.returncode == 0, (printed[0], published.stderr)
            srv.wait_log(eventType="Publish-In", clientId=cli[2], status="Success", timeout=10)
    finally:
        if sub is not None:
            try:
                os.killpg(sub.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        srv.stop()


def test_mint_without_a_policy_prints_no_command(server, tmp_path, portcullis_bin):
    result = subprocess.run([str(portcullis_bin), "device", "mint", "bare", "--no-policy", "--data-dir", str(server.data_dir),
                             "--out", str(tmp_path / "bare")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "mosquitto_pub" not in result.stdout and "no policy is attached" in result.stderr
    assert "policies       : none" in result.stdout
    refused = subprocess.run([str(portcullis_bin), "device", "mint", "x", "--no-policy", "--policy", "p", "--data-dir",
                              str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "exclude each other" in refused.stderr


def test_rule_lint_test_create_list_and_delete(server, tmp_path, portcullis_bin):
    rule = tmp_path / "alerts.json"
    rule.write_text(json.dumps({"sql": "SELECT temperature AS t FROM 'sensors/+/data' WHERE temperature > 50",
                                "awsIotSqlVersion": "2016-03-23",
                                "actions": [{"republish": {"roleArn": "arn:aws:iam::123456789012:role/r", "topic": "alerts/${topic(2)}"}}]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sql": "SELECT * FROM", "actions": []}))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(portcullis_bin), "rule", *args], capture_output=True, text=True, timeout=60)

    linted = cli("lint", str(rule), str(bad))
    assert linted.returncode == 1
    assert "ok (SQL 2016-03-23, FROM 'sensors/+/data', 1 action)" in linted.stdout
    assert "SqlParseException: Line 1:14" in linted.stdout
    taken = cli("test", str(rule), "--topic", "sensors/oven/data", "--payload", '{"temperature": 60}')
    assert taken.returncode == 0 and 'result: {"t":60}' in taken.stdout and "publish to alerts/oven" in taken.stdout, taken.stdout
    assert cli("test", str(rule), "--topic", "sensors/oven/data", "--payload", '{"temperature": 6}').returncode == 2
    data = ["--data-dir", str(server.data_dir)]
    assert cli("create", "cli_alerts", str(rule), *data).stdout.strip() == "rule cli_alerts created"
    again = cli("create", "cli_alerts", str(rule), *data)
    assert again.returncode == 1 and "ResourceAlreadyExistsException" in again.stderr
    assert cli("create", "cli_alerts", str(rule), "--replace", *data).stdout.strip() == "rule cli_alerts replaced"
    listed = cli("list", *data)
    assert "cli_alerts\tenabled\tsensors/+/data" in listed.stdout, listed.stdout
    assert cli("delete", "cli_alerts", *data).stdout.strip() == "rule cli_alerts deleted"
    gone = cli("delete", "cli_alerts", *data)
    assert gone.returncode == 1 and "UnauthorizedException" in gone.stderr
