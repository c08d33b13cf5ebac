"""`txc demo` end to end: embedded PostgreSQL, two banks, a bank killed half-way, money conserved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.coordinator.cluster import TXC


def test_demo_conserves_money_through_a_participant_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        [TXC, "demo", "--json", "--transfers", "16", "--data-dir", str(tmp_path / "pg")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["conserved"] and summary["total_before"] == summary["total_after"] == 800
    assert summary["committed"] + summary["rolled_back"] == 16
    assert summary["rolled_back"] >= 3  # every fifth transfer asks for more than any account holds
    assert summary["coordinator_counts"] == {
        state: n for state, n in (("COMMITTED", summary["committed"]), ("ROLLED_BACK", summary["rolled_back"])) if n
    }
    assert "SIGKILL bank-b half-way" in done.stderr and "bank-b restarted" in done.stderr
    # the summary scraped from the processes' own metrics says the same
    metrics = summary["metrics"]
    assert "metrics: coordinator http://" in done.stderr and "unreachable" not in metrics, metrics
    assert metrics["finished"].get("tcc committed", 0) == summary["committed"]
    assert metrics["finished"].get("tcc rolled_back", 0) == summary["rolled_back"]
    assert (metrics["finished"]["saga succeeded"], metrics["finished"]["saga compensated"]) == (3, 1)
    trips = summary["trips"]  # the trip-booking saga: parallel steps, one payment declined and compensated
    assert (trips["succeeded"], trips["compensated"]) == (3, 1)
    failed = next(t for t in trips["trips"] if t["state"] == "COMPENSATED")
    assert "declined" in failed["error"]
    assert set(failed["steps"].values()) == {"COMPENSATED"}  # payment's compensation is empty: it never applied
    assert set(failed["completed_in_order"][:1]) == {"flight"} and len(failed["completed_in_order"]) == 3
    # the sharded part: dbproxy over two MariaDB shards, XA through the same coordinator, proxy killed half-way
    sharded = summary["sharded"]
    assert sharded["conserved"] and sharded["left_prepared"] == 0, sharded
    assert sharded["outcomes"].get("committed", 0) > 0
    assert "SIGKILL dbproxy half-way" in done.stderr and "dbproxy restarted" in done.stderr
    # Branch signatures were on: the demo gave its coordinator and participants one key, so none of them
    # warned that it runs unverified (and every transfer and saga step above passed the participants' check).
    logs = sorted((tmp_path / summary["logs"]).glob("*.log"))
    assert {p.stem for p in logs} >= {"coordinator", "bank-a", "bank-b", "trip"}, logs
    assert not [p.name for p in logs if "TXC_BRANCH_KEY is not set" in p.read_text(errors="replace")]
