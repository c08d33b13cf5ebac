"""The race the decision row settles: a commit's decision and recovery's abort of the same prepared transaction.

Real MariaDB, the proxy's own committer and recovery in this process (no proxy process, so the interleavings
are the test's to choose). Whatever the order, exactly one outcome is recorded under the gid's key and both
backends follow it: money moves on both or on neither, and nothing stays prepared."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from dbproxy.backends.connection import BackendConnection
from dbproxy.backends.pool import Pools
from dbproxy.config import ProxyConfig
from dbproxy.errors import ProxyError
from dbproxy.xa.commit import FinishedXa, XaCommitter
from dbproxy.xa.decisions import ABORT, COMMIT, DecisionTable
from dbproxy.xa.recovery import RecoveryReport, XaRecovery
from dbproxy.xa.statements import Xid, prepared, start_sql
from dbproxy.xa.transactions import BackendBranch
from tests.integration.proxy.xa.rig import XaRig, direct
from tests.support import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(240)
ROUNDS = 40


@dataclass
class Outcomes:
    """The committer's ``XaLog``: keeps what would be reported to the coordinator."""

    service: str
    decisions: DecisionTable
    finished: list[FinishedXa] = field(default_factory=list)
    count: int = 0

    def new_gid(self) -> str:
        self.count += 1
        return f"race{random.getrandbits(48):012x}{self.count:06d}"

    def report(self, finished: FinishedXa) -> None:
        self.finished.append(finished)


@dataclass
class Parts:
    pools: Pools
    outcomes: Outcomes
    committer: XaCommitter
    recovery: XaRecovery
    opened: list[BackendConnection] = field(default_factory=list)  # closed at the end, whatever happened


@pytest.fixture
async def parts(rig: XaRig) -> AsyncIterator[Parts]:
    # a tombstone waits for the decider's commit however slow the machine is (the rig's default is 2 s)
    config = ProxyConfig.model_validate(rig.config(free_port(), pool={"lock_wait_timeout": 30}))
    pools = Pools(config)
    decisions = DecisionTable(rig.decision_schema, rig.service)
    conn = await pools["ds0"].acquire(False, 45, ())
    await decisions.create(conn)  # both shard databases live on one server: one table serves both
    pools["ds0"].release(conn)
    outcomes = Outcomes(rig.service, decisions)
    # timeout 0: recovery aborts an undecided prepared branch the first time it looks at it
    recovery = XaRecovery(pools, ["ds0", "ds1"], decisions, 0.0, 3600, lambda _f: True)
    parts = Parts(pools, outcomes, XaCommitter(outcomes), recovery)
    try:
        yield parts
    finally:
        for conn in parts.opened:  # a failed test's open or prepared branches must not outlive it
            conn.close()
        pools.close()


async def _open_transfer(parts: Parts, amount: int) -> tuple[str, list[BackendBranch]]:
    """A transfer of ``amount`` from account 0 (ds0, the decider) to account 1 (ds1), not yet committed."""
    gid = parts.outcomes.new_gid()
    branches = []
    for backend, sql in (
        ("ds0", f"UPDATE acct_0 SET balance = balance - {amount} WHERE id = 0"),
        ("ds1", f"UPDATE acct_1 SET balance = balance + {amount} WHERE id = 1"),
    ):
        conn = await parts.pools[backend].acquire(False, 45, ())
        parts.opened.append(conn)
        conn.in_transaction = True
        xid = Xid.of(gid, parts.outcomes.service, backend, "ds0")
        conn.send_pipelined(start_sql(xid))
        await conn.execute(sql)
        branches.append(BackendBranch(conn, xid, wrote=True))
    return gid, branches


def _release(parts: Parts, branches: list[BackendBranch]) -> None:
    for branch in branches:
        branch.conn.in_transaction = False
        parts.pools[branch.name].release(branch.conn)


async def _commit(parts: Parts, gid: str, branches: list[BackendBranch]) -> bool:
    try:
        await parts.committer.commit(gid, branches)
    except ProxyError as exc:
        assert exc.code == 1180 and "rolled back" in exc.message, exc
        return False
    finally:
        _release(parts, branches)
    return True


async def _abort(parts: Parts, gid: str, xid: Xid) -> RecoveryReport:
    report = RecoveryReport()
    await parts.recovery._recover(gid, [xid], report)
    return report


async def _decision(parts: Parts, gid: str) -> str | None:
    conn = await parts.pools["ds0"].acquire(False, 45, ())
    try:
        return await parts.outcomes.decisions.read(conn, gid)
    finally:
        parts.pools["ds0"].release(conn)


async def _left_prepared(parts: Parts) -> list[Xid]:
    conn = await parts.pools["ds1"].acquire(False, 45, ())
    try:
        return await prepared(conn, parts.outcomes.service)
    finally:
        parts.pools["ds1"].release(conn)


@pytest.mark.slow
async def test_a_decision_and_a_recovery_abort_issued_concurrently_exactly_one_wins(rig: XaRig, parts: Parts) -> None:
    rnd = random.Random(19)
    wins: Counter[str] = Counter()
    expected = {0: 100, 1: 100}
    for round_ in range(ROUNDS):
        amount = 1 + round_ % 3
        gid, branches = await _open_transfer(parts, amount)
        xid1 = branches[1].xid
        assert xid1 is not None

        async def commit() -> bool:
            await asyncio.sleep(rnd.uniform(0, 0.003))
            return await _commit(parts, gid, branches)  # noqa: B023 - awaited within the round

        async def abort() -> RecoveryReport:
            await asyncio.sleep(rnd.uniform(0, 0.003))
            return await _abort(parts, gid, xid1)  # noqa: B023

        committed, _report = await asyncio.gather(commit(), abort())
        decision = await _decision(parts, gid)
        assert decision == (COMMIT if committed else ABORT), (round_, committed, decision)
        wins["decision" if committed else "tombstone"] += 1
        if committed:
            expected = {0: expected[0] - amount, 1: expected[1] + amount}
        balances = {k: v for k, v in rig.balances().items() if k in (0, 1)}
        assert balances == expected, (round_, committed)
        assert await _left_prepared(parts) == []
    print(f"{ROUNDS} races: {dict(wins)}")
    assert sum(wins.values()) == ROUNDS


async def test_a_tombstone_waits_for_a_decision_in_flight_and_loses(rig: XaRig, parts: Parts) -> None:
    gid, branches = await _open_transfer(parts, 30)
    decider, other = branches
    assert other.xid is not None and decider.xid is not None
    other.conn.send_pipelined(f"XA END {other.xid.sql}")
    await other.conn.execute(f"XA PREPARE {other.xid.sql}")
    await decider.conn.execute(parts.outcomes.decisions.insert_sql(gid, COMMIT, ["ds0", "ds1"]))  # not committed
    abort = asyncio.create_task(_abort(parts, gid, other.xid))
    # polled from a thread: a blocking query here would starve the loop the tombstone's connection runs on
    await eventually(lambda: asyncio.to_thread(_lock_waits, rig), 30, "the tombstone waiting on the decision", 0.02)
    assert not abort.done()
    decider.conn.send_pipelined(f"XA END {decider.xid.sql}")
    await decider.conn.execute(f"XA COMMIT {decider.xid.sql} ONE PHASE")  # the decision commits
    report = await abort
    assert report.rolled_back == [] and await _decision(parts, gid) == COMMIT
    await other.conn.execute(f"XA COMMIT {other.xid.sql}")  # still attached: recovery left it to its session
    _release(parts, branches)
    assert {k: v for k, v in rig.balances().items() if k in (0, 1)} == {0: 70, 1: 130}
    assert await _left_prepared(parts) == []


async def test_a_decision_after_a_tombstone_fails_and_everything_rolls_back(rig: XaRig, parts: Parts) -> None:
    gid, branches = await _open_transfer(parts, 30)
    assert branches[1].xid is not None
    report = await _abort(parts, gid, branches[1].xid)  # nothing prepared yet: the tombstone goes in first
    assert report.pending == [] and await _decision(parts, gid) == ABORT
    assert not await _commit(parts, gid, branches)  # its decision insert meets the tombstone's key
    assert {k: v for k, v in rig.balances().items() if k in (0, 1)} == {0: 100, 1: 100}
    assert await _left_prepared(parts) == []
    (finished,) = parts.outcomes.finished
    assert not finished.committed and "recovery rolled it back" in finished.reason


def _lock_waits(rig: XaRig) -> int:
    with direct(rig.shard_dbs[0]).cursor() as cur:
        cur.execute(  # this test's tombstone only: the server is shared
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE %s",
            (f"%{rig.decision_schema}%",),
        )
        return int(cur.fetchone()[0])
