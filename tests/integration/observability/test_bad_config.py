"""A bad metrics address or log format is refused at start with one line naming it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.integration.proxy.conftest import proxy_config

BIN = Path(sys.executable).parent


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def test_a_malformed_metrics_address_is_refused_naming_the_flag() -> None:
    done = _run("txc", "coordinator", "--metrics-listen", "nowhere", "--store", "postgresql://x/y")
    assert done.returncode == 2
    assert "--metrics-listen: expected HOST:PORT, got 'nowhere'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_metrics_port_in_use_is_refused_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = _run("txc", "registry", "--listen", "127.0.0.1:0", "--metrics-listen", address)
    assert done.returncode == 2
    assert f"--metrics-listen {address}: cannot listen there" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_log_format_is_refused_naming_the_variable() -> None:
    done = _run("txc", "registry", "--listen", "127.0.0.1:0", env={"TXC_LOG_FORMAT": "xml"})
    assert done.returncode == 2
    assert "TXC_LOG_FORMAT: expected one of text, json, got 'xml'" in done.stderr


def test_the_proxy_config_names_a_bad_metrics_listen(tmp_path: Path) -> None:
    config = proxy_config(3307, {"ds0": "db0"}, {})
    config["metrics"] = {"listen": "no-port"}
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    done = _run("dbproxy", "--check-config", str(path))
    assert done.returncode == 2
    assert "metrics.listen" in done.stderr and "no-port" in done.stderr
