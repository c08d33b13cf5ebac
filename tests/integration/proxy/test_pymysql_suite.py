"""PyMySQL's own test suite through the proxy (a pass-through config: one logical database per physical one, the
suite's root user a proxy user) passes everything it passes run directly against MariaDB, except the tests
`dbproxy/README.md` lists as needing what the proxy refuses by design.

The suite is not part of PyMySQL's wheel: point ``TXC_PYMYSQL_SRC`` at a PyMySQL source tree (``git clone
--branch v1.2.0 https://github.com/PyMySQL/PyMySQL``) and run it with ``pytest -m manual``. It runs the suite twice
in subprocesses (about a minute each), from a copy of the tree whose ``pymysql/tests/databases.json`` names the
server or the proxy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.proxy.conftest import proxy_config, start_proxy
from tests.support import free_port, mariadb_databases

SOURCE = os.environ.get("TXC_PYMYSQL_SRC", "")
README = Path(__file__).resolve().parents[3] / "dbproxy" / "README.md"


def documented_refusals() -> set[str]:
    """The suite's tests the README says the proxy refuses by design (``file.py::Class::test``)."""
    section = README.read_text().split("## PyMySQL's own test suite through the proxy", 1)[1]
    return set(re.findall(r"^\| `(test_\w+\.py::\w+::\w+)` \|", section, re.MULTILINE))


def run_suite(source: Path, work: Path, port: int, databases: tuple[str, str]) -> tuple[set[str], int]:
    """The suite's passed tests (``file.py::Class::test``) and how many it collected, against ``port``."""
    tree = work / "pymysql-src"
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    settings = [
        {
            "host": "127.0.0.1",
            "port": port,
            "user": "root",
            "passwd": "",
            "database": databases[0],
            "use_unicode": True,
            "local_infile": True,
        },
        {"host": "127.0.0.1", "port": port, "user": "root", "passwd": "", "database": databases[1]},
    ]
    (tree / "pymysql" / "tests" / "databases.json").write_text(json.dumps(settings))
    report = work / "suite.xml"
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the suite tests its own pymysql, not the installed one
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", "pymysql/tests"],
        cwd=tree,
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    passed: set[str] = set()
    collected = 0
    for case in ET.parse(report).iter("testcase"):
        collected += 1
        if any(child.tag in ("failure", "error", "skipped") for child in case):
            continue
        module, cls = case.get("classname", "").rsplit(".", 1)
        passed.add(f"{module.rsplit('.', 1)[1]}.py::{cls}::{case.get('name')}")
    return passed, collected


@pytest.mark.slow
@pytest.mark.manual  # CI has no PyMySQL source tree (its wheel and sdist leave the suite out)
def test_pymysql_suite_passes_through_the_proxy_what_it_passes_directly(tmp_path: Path) -> None:
    assert SOURCE, "set TXC_PYMYSQL_SRC to a PyMySQL v1.2.0 source tree"
    source = Path(SOURCE)
    assert (source / "pymysql" / "tests" / "base.py").exists(), f"{source} is not a PyMySQL source tree"
    documented = documented_refusals()
    assert documented, "the README's table of refused suite tests was not found"
    with mariadb_databases("txc_pms", 4) as dbs:
        direct, direct_count = run_suite(source, tmp_path / "direct", 3306, (dbs[0], dbs[1]))
        port = free_port()
        config = proxy_config(port, {"ds0": dbs[2], "ds1": dbs[3]}, {})
        config["databases"] = {
            "test1": {"default_backend": "ds0", "sharded_tables": {}},
            "test2": {"default_backend": "ds1", "sharded_tables": {}},
        }
        proc = start_proxy(config, tmp_path / "proxy")
        try:
            proxied, proxied_count = run_suite(source, tmp_path / "proxied", port, ("test1", "test2"))
        finally:
            proc.kill()
    assert direct, "the suite passed nothing directly: is the server up?"
    assert proxied_count == direct_count  # every test is collected through the proxy too (SHOW PLUGINS)
    assert direct - proxied <= documented, sorted(direct - proxied - documented)
    assert not proxied - direct, sorted(proxied - direct)  # nothing passes only through the proxy
