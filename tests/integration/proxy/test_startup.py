"""`dbproxy --config`: a bad config stops start-up with errors naming file, line, key and problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "dbproxy"


def run(config_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "proxy.yaml"
    path.write_text(config_text)
    return subprocess.run([str(BIN), "--config", str(path)], capture_output=True, text=True, timeout=30)


def test_bad_config_names_file_line_key_and_problem(tmp_path: Path) -> None:
    out = run(
        """listen: 127.0.0.1:0
users: {app: secret}
backends:
  ds0: mysql://root:@127.0.0.1:3306/x
databases:
  app:
    default_backend: ds0
    sharded_tables:
      items:
        column: id
        algorithm: modulo
        nodes: [ds0.items_0, ds9.items_1]
""",
        tmp_path,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{tmp_path / 'proxy.yaml'}:11: databases.app.sharded_tables.items.algorithm" in out.stderr
    assert "'mod', 'hash' or 'range'" in out.stderr


def test_unknown_backend_is_named(tmp_path: Path) -> None:
    out = run(
        """users: {app: secret}
backends: {ds0: "mysql://root@127.0.0.1/x"}
databases:
  app:
    default_backend: ds0
    sharded_tables:
      items: {column: id, algorithm: mod, nodes: [ds0.a, ds9.b]}
""",
        tmp_path,
    )
    assert out.returncode == 2
    assert "unknown backend 'ds9'" in out.stderr and "Traceback" not in out.stderr


def test_missing_file_and_invalid_yaml(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN), "--config", str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert out.returncode == 2 and "cannot read" in out.stderr
    out = run("users: [unclosed\n", tmp_path)
    assert out.returncode == 2 and "not valid YAML" in out.stderr and "Traceback" not in out.stderr
