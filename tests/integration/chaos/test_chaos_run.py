"""`txc chaos run` as a user runs it: a real system of processes under every fault kind, checked after heal.

One short run (about 60 s of load) serves two tests: it must pass every checker, and every fault kind must
leave its mark in the history. A deliberately broken coordinator build must make the checkers fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos.registry import NEMESES, load_builtins

TXC = str(Path(sys.executable).with_name("txc"))
SEED = 7


def txc_chaos(report: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 400) -> tuple[int, str]:
    done = subprocess.run(
        [TXC, "chaos", "run", "--report", str(report), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout + done.stderr


def failed_checks(report: Path, code: int, output: str) -> dict[str, dict[str, Any]]:
    """The checks a run that must fail failed (it exited 1 and said so), by name, as its report has them."""
    assert code == 1, output[-3000:]
    assert "chaos run FAILED" in output
    summary = json.loads((report / "report.json").read_text())
    return {c["name"]: c for c in summary["checks"] if not c["ok"]}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("chaos-full")
    code, output = txc_chaos(report, "--duration", "60", "--clients", "3", "--seed", str(SEED), "--json")
    summary = json.loads((report / "report.json").read_text()) if (report / "report.json").exists() else {}
    return {"code": code, "output": output, "summary": summary, "report": report}


@pytest.mark.slow
def test_a_short_run_with_every_fault_kind_passes_every_checker(full_run: dict[str, Any]) -> None:
    summary = full_run["summary"]
    failed = [c for c in summary.get("checks", []) if not c["ok"]]
    assert full_run["code"] == 0 and summary and not failed, (failed, full_run["output"][-3000:])
    assert summary["totals"]["ok"] > 0  # the system did real work under the faults
    report = full_run["report"]
    assert (report / "history.jsonl").stat().st_size > 0
    assert "data:image/png;base64," in (report / "report.html").read_text()
    assert summary["seed"] == SEED and summary["schedule"]


def _grew(evidence: dict[str, Any], counter: str) -> bool:
    return bool(evidence["stats_after"][counter] > evidence["stats_before"][counter])


@pytest.mark.slow
def test_every_fault_kind_demonstrably_fires(full_run: dict[str, Any]) -> None:
    load_builtins()
    per_kind = full_run["summary"]["per_kind"]
    assert set(per_kind) == set(NEMESES)
    # kill-proxy applies to workloads with dbproxy instances; bank-tcc has none and the report says so
    assert per_kind["kill-proxy"]["injected"] == 0 and "dbproxy" in per_kind["kill-proxy"]["not_applicable"]
    for kind, stats in per_kind.items():
        if kind == "kill-proxy":
            continue
        assert stats["injected"] >= 1, f"{kind} never fired: {stats}"
        for evidence in stats["evidence"]:
            if kind.startswith("kill-"):
                assert evidence["returncode"] == -9 and evidence["restarted_pid"] != evidence["pid"], (kind, evidence)
            elif kind == "pause":
                assert evidence["status"] == "stopped", evidence
            elif kind == "clock-skew":
                plan_offsets = [e["plan"]["offset"] for e in full_run["summary"]["schedule"] if e["kind"] == kind]
                assert any(abs(evidence["observed_offset"] - o) < 3 for o in plan_offsets), evidence
                assert abs(evidence["observed_offset_after"]) < 3, evidence
    fired = {kind: stats.get("evidence", []) for kind, stats in per_kind.items()}
    assert any(_grew(e, "delayed") for e in fired["net-latency"]), fired["net-latency"]
    assert any(_grew(e, "resets") for e in fired["net-reset"]), fired["net-reset"]
    assert any(_grew(e, "held") for e in fired["net-blackhole"]), fired["net-blackhole"]
    assert any(_grew(e, "held") for e in fired["net-partition"]), fired["net-partition"]


def test_a_deliberately_broken_coordinator_is_caught(tmp_path: Path) -> None:
    code, output = txc_chaos(
        tmp_path,
        "--duration", "8", "--clients", "2", "--faults", "net-latency", "--settle", "12",
        env={"TXCOORD_FAILPOINTS": "confirm_without_decision"},
    )  # fmt: skip
    failed = failed_checks(tmp_path, code, output)
    assert "client-observed outcomes agree with the balances" in failed, failed
    assert "committed branches confirmed, rolled-back ones never (barrier tables)" in failed, failed
    # the offending transactions are printed, by gid
    offender = next(c for c in failed.values() if c["offenders"])["offenders"][0]
    assert offender["gid"] in output


@pytest.mark.parametrize("workload", ["mixed-at"])
def test_hooks_of_later_workloads_say_they_are_not_available_yet(tmp_path: Path, workload: str) -> None:
    code, output = txc_chaos(tmp_path, "--workload", workload, timeout=60)
    assert code == 2 and "not available yet" in output, output


def test_an_unknown_fault_kind_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    code, output = txc_chaos(tmp_path, "--faults", "kill-everything", timeout=60)
    assert code == 2 and "kill-everything" in output and "net-latency" in output, output


PLUGIN = """
from chaos import workload


@workload("plugin-probe")
class Probe:
    name = "plugin-probe"

    def unavailable(self):
        return "plugin-probe registered from a user module and asked not to run"
"""


def test_a_user_module_registers_a_workload_the_same_way(tmp_path: Path) -> None:
    plugin = tmp_path / "my_chaos_plugin.py"
    plugin.write_text(PLUGIN)
    code, output = txc_chaos(tmp_path, "--plugin", str(plugin), "--workload", "plugin-probe", timeout=60)
    assert code == 2 and "registered from a user module" in output, output
    code, output = txc_chaos(tmp_path, "--workload", "plugin-probe", timeout=60)
    assert code == 2 and "unknown 'plugin-probe'" in output and "bank-tcc" in output, output
