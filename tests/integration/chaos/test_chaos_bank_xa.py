"""`txc chaos run --workload bank-xa`: transfers through two dbproxy instances, atomic across shards by XA
branches the coordinators decide, while a proxy and a coordinator are SIGKILLed. The checkers read the shards
directly; a proxy built to commit only the first branch of a decided transaction must be caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.chaos.test_chaos_run import failed_checks, txc_chaos

SEED = 3


@pytest.fixture(scope="module")
def xa_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("chaos-xa")
    code, output = txc_chaos(
        report,
        "--workload", "bank-xa", "--faults", "kill-proxy,kill-coordinator",
        "--duration", "35", "--clients", "3", "--seed", str(SEED), "--json",
    )  # fmt: skip
    summary = json.loads((report / "report.json").read_text()) if (report / "report.json").exists() else {}
    history = [json.loads(line) for line in (report / "history.jsonl").read_text().splitlines()]
    return {"code": code, "output": output, "summary": summary, "history": history}


@pytest.mark.slow
def test_transfers_through_two_proxies_stay_atomic_while_a_proxy_and_a_coordinator_are_killed(
    xa_run: dict[str, Any],
) -> None:
    summary = xa_run["summary"]
    failed = [c for c in summary.get("checks", []) if not c["ok"]]
    assert xa_run["code"] == 0 and summary and not failed, (failed, xa_run["output"][-3000:])
    assert summary["totals"]["ok"] > 0
    names = {c["name"] for c in summary["checks"]}
    assert "each transfer atomic: both ledger entries committed or neither (read from the shards)" in names
    assert "no XA branch left prepared" in names
    xa_check = next(c for c in summary["checks"] if c["name"].startswith("every XA global transaction terminal"))
    assert "'COMMITTED': " in xa_check["detail"], xa_check  # cross-shard transfers went through the coordinator


@pytest.mark.slow
def test_kill_proxy_fires_and_clients_fail_over_to_the_other_proxy(xa_run: dict[str, Any]) -> None:
    per_kind = xa_run["summary"]["per_kind"]
    for kind in ("kill-proxy", "kill-coordinator"):
        assert per_kind[kind]["injected"] >= 1 and "not_applicable" not in per_kind[kind], per_kind[kind]
        for evidence in per_kind[kind]["evidence"]:
            assert evidence["returncode"] == -9 and evidence["restarted_pid"] != evidence["pid"], (kind, evidence)
    # while a proxy was dead, transfers still committed through the other one
    history = xa_run["history"]
    windows = []
    for record in history:
        if record["type"] == "nemesis" and record["kind"] == "kill-proxy":
            if record["phase"] == "start":
                windows.append([record["plan"]["target"], record["t"], None])
            else:
                windows[-1][2] = record["t"]
    assert windows
    for target, start, end in windows:
        survivors = [
            r
            for r in history
            if r["type"] == "ok" and start < r["t"] - r["latency"] and r["t"] < end and r["args"]["proxy"] != target
        ]
        assert survivors, f"no transfer committed through the other proxy while {target} was down"


def test_a_proxy_that_commits_only_the_first_branch_is_caught(tmp_path: Path) -> None:
    code, output = txc_chaos(
        tmp_path,
        "--workload", "bank-xa", "--duration", "5", "--clients", "2", "--faults", "kill-proxy", "--settle", "12",
        env={"DBPROXY_FAILPOINTS": "xa_commit_first_branch_only"},
    )  # fmt: skip
    failed = failed_checks(tmp_path, code, output)
    assert "each transfer atomic: both ledger entries committed or neither (read from the shards)" in failed, failed
    assert "client-observed outcomes agree with the shards (ok committed, failed not)" in failed, failed
    assert "money conserved" in failed, failed
    # the offending transfers are printed by their id
    offender = next(c for c in failed.values() if c["offenders"])["offenders"][0]
    assert offender["gid"] in output and offender["client_saw"] == "ok", offender
