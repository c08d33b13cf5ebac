"""Crashes (SIGKILL) of the caller, the coordinator and a participant, and recovery from each."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from demo.bank import credit, debit
from sdk.errors import UsageError
from tests.integration.coordinator.cluster import (
    Cluster,
    accounts,
    audit,
    query,
    states,
    tx_state,
    txc_json,
)
from tests.support import free_port, start_process
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


async def _committed_tries(cluster: Cluster, count: int) -> list[Any]:
    """``count`` transfers A -> B whose tries succeeded, not yet committed."""
    client = cluster.client()
    txs = []
    for _ in range(count):
        tx = client.transaction(timeout=120)
        await tx.call(debit.on("bank-a"), account="A", amount=10)
        await tx.call(credit.on("bank-b"), account="B", amount=10)
        txs.append(tx)
    return [client, txs]


async def test_caller_killed_after_tries_is_timed_out_and_cancelled(
    cluster: Cluster, new_db: NewDb, tmp_path: Any
) -> None:
    cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    cluster.bank("bank-b", db_b, "B=100")
    caller = start_process(
        [sys.executable, "-m", "tests.integration.coordinator.caller", cluster.registry, "4"], tmp_path, "caller"
    )
    cluster.processes.append(caller)

    async def tried() -> str | None:
        found = re.search(r"TRIED (\w+)", caller.output())
        return found.group(1) if found else None

    gid = await eventually(tried, what="caller's tries")
    caller.kill()
    assert await accounts(db_a) == {"A": (90, 10, 0)}  # reserved by the try

    async def rolled_back() -> bool:
        return await tx_state(cluster.store, gid) == "ROLLED_BACK"

    await eventually(rolled_back, what="rollback by timeout")
    [row] = await query(cluster.store, "SELECT reason FROM txc_transaction WHERE gid = $1", gid)
    assert row["reason"] == "timeout"
    assert await audit(db_a, gid) == [(gid, "1", "try", "applied"), (gid, "1", "cancel", "applied")]
    assert await audit(db_b, gid) == [(gid, "2", "try", "applied"), (gid, "2", "cancel", "applied")]
    assert await accounts(db_a) == {"A": (100, 0, 0)}
    assert await accounts(db_b) == {"B": (100, 0, 0)}


async def test_coordinator_killed_after_the_decision_delivers_every_confirm_after_restart(
    cluster: Cluster, new_db: NewDb
) -> None:
    port = free_port()
    coordinator, _ = cluster.coordinator(port=port)
    db_a, db_b = await new_db(), await new_db()
    bank_a = cluster.bank("bank-a", db_a, "A=100")
    bank_b = cluster.bank("bank-b", db_b, "B=100")
    client, txs = await _committed_tries(cluster, 5)
    survivor = cluster.client()  # a caller whose session stream lives through the coordinator's crash
    await survivor.begin("survivor-before", 30)
    # Participants down: the decisions become durable but no phase-2 call can get through.
    bank_a.kill()
    bank_b.kill()
    for tx in txs:
        assert await tx.commit() == "COMMITTING"
    await client.close()
    coordinator.kill()
    assert await states(cluster.store) == {"COMMITTING": 5, "BEGIN": 1}
    assert [op for *_, op, _ in await audit(db_a)] == ["try"] * 5  # no confirm reached anyone

    cluster.coordinator(port=port)  # same address, same node id: it reclaims its own work at once
    cluster.bank("bank-a", db_a, listen=bank_a.listen)  # type: ignore[attr-defined]
    cluster.bank("bank-b", db_b, listen=bank_b.listen)  # type: ignore[attr-defined]

    async def all_committed() -> bool:
        return await states(cluster.store) == {"COMMITTED": 5, "BEGIN": 1}

    await eventually(all_committed, what="every transaction COMMITTED after restart")
    async with survivor:
        async with survivor.transaction(timeout=30) as tx:  # its session stream reconnects by itself
            await tx.call(debit.on("bank-a"), account="A", amount=1)
        assert await survivor.rollback("survivor-before") == "ROLLING_BACK"
    await eventually(lambda: _state_is(cluster.store, tx.gid, "COMMITTED"), what="a new transaction after restart")
    for db, branch in ((db_a, "1"), (db_b, "2")):
        confirms = [(gid, b, outcome) for gid, b, op, outcome in await audit(db) if op == "confirm"]
        ours = {t.gid for t in txs}
        applied = sorted(gid for gid, b, outcome in confirms if outcome == "applied" and b == branch and gid in ours)
        assert applied == sorted(ours)  # each confirm applied exactly once
    assert await accounts(db_a) == {"A": (49, 0, 0)}
    assert await accounts(db_b) == {"B": (150, 0, 0)}


async def test_participant_down_during_phase_2_is_retried_with_backoff_until_it_returns(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, address = cluster.coordinator("--retry-initial", "0.2", "--retry-max", "1.6")
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    bank_b = cluster.bank("bank-b", db_b, "B=100")
    client, [tx] = await _committed_tries(cluster, 1)
    bank_b.kill()
    assert await tx.commit() == "COMMITTING"
    await client.close()

    async def shown_with_attempts() -> dict[str, Any] | None:
        shown = await asyncio.to_thread(txc_json, "tx", "show", tx.gid, "--coordinator", address)
        branch_b = shown["branches"][1]
        return shown if branch_b["attempts"] >= 4 else None

    shown = await eventually(shown_with_attempts, what="4 failed attempts shown by txc tx show")
    assert shown["transaction"]["state"] == "COMMITTING"
    branch_a, branch_b = shown["branches"]
    assert branch_a["state"] == "CONFIRMED" and branch_b["state"] == "REGISTERED"
    assert "UNAVAILABLE" in branch_b["last_error"] or "bank-b" in branch_b["last_error"]
    # the recorded schedule doubles from --retry-initial up to --retry-max
    delays = [
        float(re.search(r"\[retry in ([\d.]+)s\]", e["detail"]).group(1))  # type: ignore[union-attr]
        for e in shown["timeline"]
        if e["what"].startswith("phase2_failed")
    ]
    assert delays[:5] == [0.2, 0.4, 0.8, 1.6, 1.6][: len(delays[:5])] and len(delays) >= 4

    cluster.bank("bank-b", db_b, listen=bank_b.listen)  # type: ignore[attr-defined]

    async def committed() -> bool:
        return await tx_state(cluster.store, tx.gid) == "COMMITTED"

    await eventually(committed, what="COMMITTED after bank-b returned")
    assert [(op, outcome) for _, _, op, outcome in await audit(db_b, tx.gid)].count(("confirm", "applied")) == 1
    assert await accounts(db_b) == {"B": (110, 0, 0)}


async def test_two_coordinators_recovering_give_every_branch_exactly_one_effective_phase_2(
    cluster: Cluster, new_db: NewDb
) -> None:
    first, _ = cluster.coordinator("--lease", "2")
    db_a, db_b = await new_db(), await new_db()
    bank_a = cluster.bank("bank-a", db_a, "A=1000")
    bank_b = cluster.bank("bank-b", db_b, "B=1000")
    client, txs = await _committed_tries(cluster, 20)
    bank_a.kill()
    bank_b.kill()
    for tx in txs[:10]:
        await tx.commit()
    for tx in txs[10:]:
        await tx.rollback()
    await client.close()
    first.kill()
    assert await states(cluster.store) == {"COMMITTING": 10, "ROLLING_BACK": 10}

    # Two fresh coordinators on the same store, each hosting a registry on it; the banks come back.
    _, second = cluster.coordinator("--lease", "2")
    cluster.coordinator("--lease", "2")
    cluster.registry = second
    cluster.bank("bank-a", db_a, listen=bank_a.listen)  # type: ignore[attr-defined]
    cluster.bank("bank-b", db_b, listen=bank_b.listen)  # type: ignore[attr-defined]

    async def finished() -> bool:
        return await states(cluster.store) == {"COMMITTED": 10, "ROLLED_BACK": 10}

    await eventually(finished, timeout=60, what="every transaction finished by the two coordinators")
    committed = {tx.gid for tx in txs[:10]}
    for db, branch in ((db_a, "1"), (db_b, "2")):
        effective: dict[str, int] = {}
        for gid, b, op, outcome in await audit(db):
            if op != "try" and outcome == "applied" and b == branch:
                assert op == ("confirm" if gid in committed else "cancel")
                effective[gid] = effective.get(gid, 0) + 1
        assert effective == {tx.gid: 1 for tx in txs}
    takeovers = await query(cluster.store, "SELECT detail FROM txc_event WHERE event = 'taken_over'")
    assert len(takeovers) == 20
    assert await accounts(db_a) == {"A": (900, 0, 0)}
    assert await accounts(db_b) == {"B": (1100, 0, 0)}


async def _state_is(store: str, gid: str, state: str) -> bool:
    return await tx_state(store, gid) == state


@pytest.mark.slow
async def test_bank_workload_under_kill_9_with_retried_tries_has_no_spurious_rollback(
    cluster: Cluster, new_db: NewDb
) -> None:
    """Every try is sent twice, as a caller retrying after a lost reply does (the second gets the barrier's
    "duplicate" and, now, the first try's result), while bank-b is SIGKILLed and restarted mid-run: every
    transfer whose tries succeeded commits, money is conserved, and nothing stays frozen."""
    cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=1000")
    bank_b = cluster.bank("bank-b", db_b, "B=1000")
    client = cluster.client()
    send = client.pool.invoke_json

    async def retried(address: str, service: str, action: str, payload: Any, **kwargs: Any) -> Any:
        if "." not in action:  # a try: its first reply is "lost", the retry is the answer the caller sees
            await send(address, service, action, payload, **kwargs)
        return await send(address, service, action, payload, **kwargs)

    client.pool.invoke_json = retried  # type: ignore[method-assign]
    outcomes: dict[str, bool] = {}
    mistaken: list[BaseException] = []

    async def transfer(n: int) -> None:
        tx = client.transaction(timeout=60)
        try:
            async with tx:
                await tx.call(debit.on("bank-a"), account="A", amount=n)
                await tx.call(credit.on("bank-b"), account="B", amount=n)
            outcomes[tx.gid] = True
        except UsageError as exc:  # the spurious kind: a duplicate try's reply taken for a malformed one
            outcomes[tx.gid] = False
            mistaken.append(exc)
        except Exception:
            outcomes[tx.gid] = False  # a try that failed (bank-b was down): rolled back, rightly

    async with client:
        await asyncio.gather(*(transfer(n) for n in range(1, 9)))
        bank_b.kill()
        down = asyncio.gather(*(transfer(n) for n in range(9, 13)))
        await asyncio.sleep(0.5)
        cluster.bank("bank-b", db_b, listen=bank_b.listen)  # type: ignore[attr-defined]
        await down
        await asyncio.gather(*(transfer(n) for n in range(13, 21)))

    async def settled() -> bool:
        done = await states(cluster.store)
        return set(done) <= {"COMMITTED", "ROLLED_BACK"}

    await eventually(settled, timeout=60, what="every transfer terminal")
    for gid, ok in outcomes.items():
        state = await tx_state(cluster.store, gid)
        assert state == ("COMMITTED" if ok else "ROLLED_BACK"), (gid, ok, state)
    assert mistaken == [], "a retried try's duplicate reply failed a good transfer"
    succeeded = [gid for gid, ok in outcomes.items() if ok]
    assert len(succeeded) >= 16  # the first and last eight never meet a dead bank
    (a,) = (await accounts(db_a)).values()
    (b,) = (await accounts(db_b)).values()
    assert a[1:] == (0, 0) and b[1:] == (0, 0), (a, b)  # nothing frozen, nothing incoming
    assert a[0] + b[0] == 2000 and a[0] < 1000  # conserved, and the transfers moved money
