"""The commit decision checks try receipts in its own store call (decide_many, the txc_decide function): on a real
PostgreSQL store, a commit whose TCC branches all have a receipt commits; one with a TCC branch without a receipt
is decided ROLLING_BACK, naming the branch, with a commit_refused event; XA branches are exempt; no receipts
checked (signing off) commits as before. Concurrent decisions share one statement and are judged one by one,
and a branch whose registration commits while the decision waits for the transaction's row is seen."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.integration.coordinator.cluster import query
from txcoord.model import Actor
from txcoord.tcc.model import Phase2
from txcoord.tcc.store import PgStore

SHOP = Actor("shop", False)


async def _two_branches(pg: PgStore, gid: str, second_kind: str = "TCC") -> None:
    assert (await pg.register_branch(gid, 30, "1", "bank-a", "debit", '{"amount": 1}', "TCC", SHOP))[0] == "BEGIN"
    assert (await pg.register_branch(gid, 30, "2", "bank-b", "credit", '{"amount": 1}', second_kind, SHOP))[
        0
    ] == "BEGIN"


async def test_a_commit_with_a_tcc_branch_without_a_receipt_is_decided_a_rollback(store: str) -> None:
    pg = await PgStore.connect(store)
    try:
        gids = ["all", "one", "none", "unchecked", "xa"]
        for gid in gids:
            await _two_branches(pg, gid, "XA" if gid == "xa" else "TCC")
        given = {
            "all": frozenset({"1", "2"}),
            "one": frozenset({"1"}),
            "none": frozenset(),
            "unchecked": None,
            "xa": frozenset({"1"}),
        }
        # all at once: one batch, one statement, each transaction judged on its own receipts
        decided = await asyncio.gather(
            *(pg.decide(g, Phase2.CONFIRM, "commit", "me", 10, SHOP, given[g]) for g in gids)
        )
        ops = {g: d.op if d is not None else None for g, d in zip(gids, decided, strict=True)}
        assert ops == {
            "all": Phase2.CONFIRM,
            "one": Phase2.CANCEL,
            "none": Phase2.CANCEL,
            "unchecked": Phase2.CONFIRM,
            "xa": Phase2.CONFIRM,
        }
        one = decided[1]
        assert one is not None and one.reason.startswith("commit without a try receipt for branch 2 (bank-b.credit)")
        assert [b.branch_id for b in one.branches] == ["1", "2"]  # every branch is cancelled
        none = decided[2]
        assert none is not None and "branch 1 (bank-a.debit) and 1 more" in none.reason
        rows = await query(store, "SELECT gid, state, reason FROM txc_transaction ORDER BY gid")
        states = {r["gid"]: r["state"] for r in rows}
        assert states == {
            "all": "COMMITTING",
            "one": "ROLLING_BACK",
            "none": "ROLLING_BACK",
            "unchecked": "COMMITTING",
            "xa": "COMMITTING",
        }
        assert {r["gid"]: r["reason"] for r in rows}["one"] == one.reason  # what `txc tx show` prints
        events = await query(store, "SELECT gid, branch_id, event, detail FROM txc_event ORDER BY gid, branch_id")
        refused = [(e["gid"], e["branch_id"], e["event"]) for e in events]
        assert refused == [
            ("none", "1", "commit_refused"),
            ("none", "2", "commit_refused"),
            ("one", "2", "commit_refused"),
        ]
        assert all(e["detail"].startswith("shop committed without a receipt") for e in events)
        # decided once: a second commit, with every receipt, changes nothing
        assert await pg.decide("one", Phase2.CONFIRM, "commit", "me", 10, SHOP, frozenset({"1", "2"})) is None
    finally:
        await pg.close()


REGISTER = "SELECT * FROM txc_register_branch_checked($1, 30, $2, 'bank-b', 'credit', '{}'::jsonb, 'TCC', NULL, false)"


@pytest.mark.parametrize("checked", [True, False])
async def test_a_branch_registered_while_the_decision_waits_for_its_lock_is_seen(store: str, checked: bool) -> None:
    """A registration holding the transaction's row when a commit's decision begins, and committing while the
    decision waits for that row: the decision still sees its branch, both to check its receipt (none: a
    rollback) and, unchecked, to send it its confirm."""
    pg = await PgStore.connect(store)
    registering = await asyncpg.connect(store)
    try:
        await pg.register_branch("g", 30, "1", "bank-a", "debit", "{}")
        late = registering.transaction()
        await late.start()
        await registering.fetch(REGISTER, "g", "2")  # holds the row (FOR SHARE) until it commits
        receipted = frozenset({"1"}) if checked else None
        deciding = asyncio.create_task(pg.decide("g", Phase2.CONFIRM, "commit", "me", 10, None, receipted))
        await asyncio.sleep(0.5)
        assert not deciding.done(), "the decision waits for the registration's lock"
        await late.commit()
        decided = await deciding
        assert decided is not None and [b.branch_id for b in decided.branches] == ["1", "2"]
        if checked:
            assert decided.op is Phase2.CANCEL and "for branch 2 (bank-b.credit)" in decided.reason
        else:
            assert decided.op is Phase2.CONFIRM
    finally:
        await registering.close()
        await pg.close()
