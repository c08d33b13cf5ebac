"""The rules in deploy/prometheus pass promtool, their unit test fires the needing-a-person alert, and a real
Prometheus server (Debian's) scrapes a running coordinator and dbproxy and answers queries over its HTTP API."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.observability.conftest import COMMITTED, XA_TRANSFERS
from tests.integration.observability.rig import ObservedSystem
from tests.integration.observability.scrape import Sample
from tests.support import ChildProcess, free_port, start_process
from tests.support.polling import wait_until

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def test_rules_pass_promtool_check() -> None:
    done = subprocess.run(
        ["promtool", "check", "rules", "txcoord.rules.yml"], cwd=RULES, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_needing_a_person_alert_fires_in_the_rules_unit_test() -> None:
    test_file = RULES / "txcoord.rules.test.yml"
    assert "alertname: TxcTransactionNeedsPerson" in test_file.read_text()
    done = subprocess.run(
        ["promtool", "test", "rules", test_file.name], cwd=RULES, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _query(address: str, expr: str) -> list[dict[str, Any]]:
    url = f"http://{address}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.loads(reply.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _ready(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/-/ready", timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:  # 503 until its storage is open
        return False


@pytest.fixture
def prometheus(tmp_path: Path, observed_system: ObservedSystem) -> Iterator[str]:
    """A Prometheus server on loopback scraping the coordinator and the dbproxy every second; its address."""
    targets = {"txcoord": observed_system.metrics["coordinator"], "dbproxy": observed_system.metrics["dbproxy"]}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "txcoord.rules.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]} for job, t in targets.items()],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    args = ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}"]
    args += [f"--web.listen-address={address}"]
    proc: ChildProcess = start_process(args, tmp_path / "logs", "prometheus")
    try:
        proc.wait_listening(int(address.rsplit(":", 1)[1]), timeout=30)
        wait_until(lambda: _ready(address), 60, "Prometheus to be ready")
        yield address
    finally:
        proc.kill()


@pytest.mark.slow
def test_a_prometheus_server_scrapes_the_coordinator_and_dbproxy(
    prometheus: str, workload: dict[str, list[Sample]]
) -> None:
    def committed() -> list[dict[str, Any]]:
        return _query(prometheus, 'txc_transactions_finished_total{job="txcoord", mode="tcc", outcome="committed"}')

    result = wait_until(committed, 60, "Prometheus to have scraped the coordinator")
    assert [float(r["value"][1]) for r in result] == [COMMITTED]
    commits = wait_until(
        lambda: _query(prometheus, 'dbproxy_commits_total{job="dbproxy", kind="xa", outcome="ok"}'),
        60,
        "Prometheus to have scraped the dbproxy",
    )
    assert [float(r["value"][1]) for r in commits] == [XA_TRANSFERS]
    up = _query(prometheus, "up")
    assert sorted((r["metric"]["job"], r["value"][1]) for r in up) == [("dbproxy", "1"), ("txcoord", "1")]
    # the rules loaded with it evaluate on what it scraped
    rate = wait_until(lambda: _query(prometheus, "txc:transactions_finished:rate5m"), 60, "the recording rule")
    assert {r["metric"]["mode"] for r in rate} >= {"tcc", "xa"}


def test_every_dashboard_query_is_valid_promql_over_documented_families() -> None:
    dashboard = json.loads((RULES.parent / "grafana" / "txcoord.json").read_text())
    docs = (RULES.parents[1] / "docs" / "operations.md").read_text()
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) == len(dashboard["panels"]) > 10
    # promtool parses each one as a rule's expression
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"x:panel{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    done = subprocess.run(
        ["promtool", "check", "rules", "/dev/stdin"],
        input=yaml.safe_dump(rules),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    names = {name for e in exprs for name in re.findall(r"\b((?:txc|dbproxy)_[a-z0-9_]+)", e)}
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}
    assert [f for f in sorted(families) if f"`{f}`" not in docs] == []
