"""`txc chaos run --workload bank-saga` as a user runs it: transfers as sagas on the chaos bank, under
crashes of coordinators, participants and MariaDB, pauses and partitions, checked after heal from the banks'
own tables. A participant whose compensation does nothing must make the checkers fail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chaos.bank.saga_actions import BROKEN_COMPENSATION_ENV
from tests.integration.chaos.test_chaos_run import failed_checks, txc_chaos

SEED = 11
FAULTS = "kill-coordinator,kill-participant,kill-mysql,pause,net-partition"


@pytest.fixture(scope="module")
def saga_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("chaos-saga")
    code, output = txc_chaos(
        report,
        "--workload", "bank-saga", "--duration", "35", "--clients", "3", "--seed", str(SEED),
        "--faults", FAULTS, "--json",
        timeout=240,
    )  # fmt: skip
    summary = json.loads((report / "report.json").read_text()) if (report / "report.json").exists() else {}
    return {"code": code, "output": output, "summary": summary}


@pytest.mark.slow
def test_a_bank_saga_run_under_crashes_and_faults_passes_every_checker(saga_run: dict[str, Any]) -> None:
    summary = saga_run["summary"]
    failed = [c for c in summary.get("checks", []) if not c["ok"]]
    assert saga_run["code"] == 0 and summary and not failed, (failed, saga_run["output"][-3000:])
    names = {c["name"] for c in summary["checks"]}
    assert {
        "money conserved",
        "no negative balance",
        "succeeded sagas applied both steps, compensated ones left no effect (barrier tables)",
        "balances = opening + the transfers of the SUCCEEDED sagas",
        "client-observed outcomes agree with the balances",
    } <= names
    assert any(name.startswith("every global transaction terminal") for name in names)
    totals = summary["totals"]
    assert totals["ok"] > 0 and totals["committed"] > 0  # sagas SUCCEEDED under the faults
    assert totals["rolled_back"] > 0 and totals["failed"] > 0  # and some were COMPENSATED
    # ... among them some whose debit had applied and was undone (a transfer to the closed account)
    fate = next(c for c in summary["checks"] if c["name"].startswith("succeeded sagas applied both steps"))
    undone = re.search(r"(\d+) compensated after a step applied", fate["detail"])
    assert undone and int(undone.group(1)) > 0, fate
    for kind in ("kill-coordinator", "kill-participant"):
        stats = summary["per_kind"][kind]
        assert stats["injected"] >= 1, (kind, stats)
        for evidence in stats["evidence"]:
            assert evidence["returncode"] == -9 and evidence["restarted_pid"] != evidence["pid"], (kind, evidence)


def test_a_compensation_that_does_nothing_is_caught(tmp_path: Path) -> None:
    # about 6 % of transfers go to the closed account, each one compensating an applied debit: hundreds of
    # transfers in 8 s make a run without one practically impossible
    code, output = txc_chaos(
        tmp_path,
        "--workload", "bank-saga", "--duration", "8", "--clients", "2", "--faults", "net-latency",
        "--settle", "12",
        env={BROKEN_COMPENSATION_ENV: "1"},
        timeout=120,
    )  # fmt: skip
    failed = failed_checks(tmp_path, code, output)
    assert {"money conserved", "balances = opening + the transfers of the SUCCEEDED sagas"} <= failed.keys(), failed
    # the barrier rows say each compensation ran: only the balances show it did nothing
    assert "succeeded sagas applied both steps, compensated ones left no effect (barrier tables)" not in failed
