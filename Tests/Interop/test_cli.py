"""The command line around the broker as a device owner meets it: ready file, banner, `device mint`,
`config print-default`."""

from __future__ import annotations

import json
import subprocess

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
