"""The coordinator store on PostgreSQL (asyncpg). Statements live in ``queries.sql``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from sdk.observability.tracing import current_trace_id
from txcoord import metrics
from txcoord.batching import Batcher
from txcoord.engine.leases import PgLeases, record_event
from txcoord.errors import StoreUnavailable
from txcoord.model import Actor, ListFilter, TxState
from txcoord.sql_queries import load_queries
from txcoord.store.migrations import check_schema
from txcoord.store.outage import refused
from txcoord.tcc.model import Branch, BranchState, Decision, Phase2, Transaction, XaOutcome, phase2_of

Q = load_queries(Path(__file__).with_name("queries.sql"))
# gid, timeout, branch id, service, action, payload, kind, identity (None: unchecked), admin
RegisterItem = tuple[str, float, str, str, str, str, str, str | None, bool]
# gid, new state, reason, owner, lease seconds, identity (None: unchecked), admin, trace id (None: not traced),
# the branches with a valid try receipt (None: not checked)
DecideItem = tuple[str, str, str, str, float, str | None, bool, str | None, frozenset[str] | None]
XA_FORMAT_ID = 0x747863  # the proxy's XA formatID ("txc"), shown in the xid of its branches


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def _transaction(row: asyncpg.Record) -> Transaction:
    return Transaction(
        gid=row["gid"],
        state=TxState(row["state"]),
        timeout_s=row["timeout_s"],
        deadline=row["deadline"],
        reason=row["reason"],
        owner=row["owner"],
        lease_until=row["lease_until"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        finished_at=row["finished_at"],
        branch_count=row.get("branch_count", 0),
        kind=row.get("kind", "TCC"),
        trace_id=row.get("trace_id"),
        initiator=row.get("initiator"),
    )


def _branch(row: asyncpg.Record) -> Branch:
    return Branch(
        gid=row["gid"],
        branch_id=row["branch_id"],
        service=row["service"],
        action=row["action"],
        payload=json.loads(row["payload"]),
        state=BranchState(row["state"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        last_attempt_at=row["last_attempt_at"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        kind=row.get("kind", "TCC"),
    )


def _xa_payload(backend: str, gtrid: str, bqual: str) -> dict[str, str]:
    """An XA branch's payload as `txc tx show` prints it (the same shape the proxy registered under #11)."""
    return {"backend": backend, "xid": f"{gtrid},{bqual},{XA_FORMAT_ID}", "gtrid": gtrid, "bqual": bqual}


async def keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset hook: the store never changes session state, so skip the default reset query
    (a round trip on every release)."""


class PgStore(PgLeases):
    """Implements :class:`txcoord.tcc.store_protocol.TccStore`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, (TxState.COMMITTING, TxState.ROLLING_BACK))
        # the hot path (register, decide, finish) is group-committed (see txcoord.batching); a request the store
        # refuses fails alone, not with the others that shared its statement
        self._registers: Batcher[RegisterItem, tuple[str, str | None]] = Batcher(
            self._register_many, split=refused, metric="register"
        )
        self._decides: Batcher[DecideItem, Decision | None] = Batcher(self._decide_many, split=refused, metric="decide")
        self._finishes: Batcher[tuple[str, str, str, str, str], bool] = Batcher(
            self._finish_many, split=refused, metric="finish"
        )

    def batch_stats(self) -> str:
        return " ".join(
            f"{name}={b.requests}/{b.batches}"
            for name, b in (("registers", self._registers), ("decides", self._decides), ("finishes", self._finishes))
        )

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10, check: bool = True) -> PgStore:
        """Open a pool on ``url``; with ``check``, refuse a schema that is not at the migrations' head."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, command_timeout=30, reset=keep_session
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreUnavailable(
                f"cannot connect to the coordinator store {redact(url)}: {exc}; check --store and that PostgreSQL is up"
            ) from exc
        assert pool is not None
        if check:
            try:
                async with pool.acquire() as conn:
                    await check_schema(conn, redact(url))
            except BaseException:
                await pool.close()
                raise
        return cls(pool)

    async def close(self) -> None:
        for batcher in (self._registers, self._decides, self._finishes):
            await batcher.close()
        await self.pool.close()

    async def _retrying(self, query: str, *args: object) -> list[asyncpg.Record]:
        """Run one batch statement; a deadlock with a concurrent batch is retried (it rolled back whole)."""
        for attempt in range(5):
            try:
                return list(await self.pool.fetch(query, *args))
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _register_many(self, items: Sequence[RegisterItem]) -> list[tuple[str, str | None]]:
        columns = list(zip(*items, strict=True))
        if not metrics.enabled():
            rows = await self._retrying(Q["register_branches"], *map(list, columns))
        else:  # also says which transactions this statement began (their count is a metric)
            rows = await self._retrying(Q["register_branches_began"], *map(list, columns))
            metrics.registered(items, rows)
        answers = {r["ord"]: (str(r["state"]), r["detail"]) for r in rows}
        return [answers[i + 1] for i in range(len(items))]

    async def _decide_many(self, items: Sequence[DecideItem]) -> list[Decision | None]:
        # one owner and lease per coordinator: every item carries the same ones
        owner, lease_s = items[0][3], items[0][4]
        gids = [i[0] for i in items]
        # A gid twice in one batch (a commit racing a rollback): only its first request may decide; the
        # others see "not in BEGIN" and answer from the state the first one left.
        first = {gid: n for n, gid in reversed(list(enumerate(gids)))}
        unique = [items[n] for n in sorted(first.values())]
        receipted = [(i[0], branch) for i in unique for branch in sorted(i[8] or ())]
        rows = await self._retrying(
            Q["decide_many"],
            [i[0] for i in unique],
            [i[1] for i in unique],
            [i[2] for i in unique],
            owner,
            lease_s,
            [i[5] for i in unique],
            [i[6] for i in unique],
            [i[7] for i in unique],
            [i[8] is not None for i in unique],
            [r[0] for r in receipted],
            [r[1] for r in receipted],
        )
        decided: dict[str, Decision] = {}
        for r in rows:
            decision = decided.get(r["gid"])
            if decision is None:
                op = phase2_of(TxState(r["decided"]))
                decision = decided[r["gid"]] = Decision(op, r["reason"] or "", [])
            if r["branch_id"] is not None:
                decision.branches.append(
                    Branch(
                        r["gid"],
                        r["branch_id"],
                        r["service"],
                        r["action"],
                        json.loads(r["payload"]),
                        BranchState(r["state"]),
                    )
                )
        return [decided.get(gid) if first[gid] == n else None for n, gid in enumerate(gids)]

    async def _finish_many(self, items: Sequence[tuple[str, str, str, str, str]]) -> list[bool]:
        owner = items[0][4]
        columns = [[i[k] for i in items] for k in range(4)]
        rows = await self._retrying(Q["finish_many"], *columns, owner)
        done = {r["gid"] for r in rows}
        for r in rows:
            metrics.transaction_finished(r["kind"], r["state"], r["seconds"])
        return [i[0] in done for i in items]

    async def record_xa_outcomes(self, outcomes: Sequence[XaOutcome]) -> set[str]:
        """Record finished XA transactions terminal, in one statement; the gids not recorded before."""
        branches = [
            (o.gid, backend, o.service, json.dumps(_xa_payload(backend, gtrid, bqual)), o.committed)
            for o in outcomes
            for backend, gtrid, bqual in o.branches
        ]
        rows = await self._retrying(
            Q["record_xa_outcomes"],
            [o.gid for o in outcomes],
            [(TxState.COMMITTED if o.committed else TxState.ROLLED_BACK).value for o in outcomes],
            [o.reason for o in outcomes],
            [o.started_at for o in outcomes],
            [b[0] for b in branches],
            [b[1] for b in branches],
            [b[2] for b in branches],
            [b[3] for b in branches],
            [(BranchState.CONFIRMED if b[4] else BranchState.CANCELLED).value for b in branches],
        )
        for r in rows:
            metrics.transaction_started("XA")
            metrics.transaction_finished("XA", r["state"], r["seconds"])
        return {r["gid"] for r in rows}

    async def begin(self, gid: str, timeout_s: float, actor: Actor | None = None) -> None:
        if await self.pool.execute(Q["begin"], gid, timeout_s, actor.name if actor else None) == "INSERT 0 1":
            metrics.transaction_started("TCC")

    async def register_branch(
        self,
        gid: str,
        timeout_s: float,
        branch_id: str,
        service: str,
        action: str,
        payload: str,
        kind: str = "TCC",
        actor: Actor | None = None,
    ) -> tuple[str, str | None]:
        who, admin = (actor.name, actor.admin) if actor else (None, False)
        return await self._registers.submit((gid, timeout_s, branch_id, service, action, payload, kind, who, admin))

    async def decide(
        self,
        gid: str,
        decision: Phase2,
        reason: str,
        owner: str,
        lease_s: float,
        actor: Actor | None = None,
        receipted: frozenset[str] | None = None,
    ) -> Decision | None:
        state = TxState.COMMITTING if decision is Phase2.CONFIRM else TxState.ROLLING_BACK
        who, admin = (actor.name, actor.admin) if actor else (None, False)
        checked = receipted if decision is Phase2.CONFIRM else None
        # the deciding caller's trace, kept with the transaction (`txc tx show` prints it); None: not traced
        item = (gid, state.value, reason, owner, lease_s, who, admin, current_trace_id(), checked)
        return await self._decides.submit(item)

    async def get(self, gid: str) -> Transaction | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(Q["transaction"], gid)
            if row is None:
                return None
            tx = _transaction(row)
            tx.branches = [_branch(r) for r in await conn.fetch(Q["branches"], gid)]
            tx.branch_count = len(tx.branches)
        return tx

    async def list_transactions(self, filters: ListFilter, limit: int) -> list[Transaction]:
        f = filters
        args = (f.state, limit, f.mode, f.service, f.gid_prefix or None, f.prefix_end(), f.older_than_s, f.after_gid)
        statement = Q["list_by_service"] if f.service else Q["list"]
        return [_transaction(r) for r in await self.pool.fetch(statement, *args)]

    async def unfinished_by_state(self) -> list[asyncpg.Record]:
        """Unfinished transactions per state (state, n, oldest_s): what a metrics scrape reads."""
        return list(await self.pool.fetch(Q["unfinished_by_state"]))

    async def activity(self, minutes: int) -> list[tuple[datetime, int, int, int]]:
        rows = await self.pool.fetch(Q["activity"], minutes)
        return [(r["minute"], r["committed"], r["rolled_back"], r["other"]) for r in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        return {(r["state"], r["kind"]): r["n"] for r in await self.pool.fetch(Q["count_by_state"])}

    async def finish(self, gid: str, decision: Phase2, owner: str) -> bool:
        deciding = TxState.COMMITTING if decision is Phase2.CONFIRM else TxState.ROLLING_BACK
        return await self._finishes.submit(
            (gid, deciding.value, decision.final_state.value, decision.branch_done_state.value, owner)
        )

    async def branches_done(self, gid: str, branch_ids: Sequence[str], decision: Phase2) -> None:
        await self.pool.execute(Q["branches_done"], gid, list(branch_ids), decision.branch_done_state.value)

    async def branch_failed(self, gid: str, branch_id: str, error: str, retry_in: float) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(Q["branch_failed"], gid, branch_id, error, retry_in)
            await record_event(conn, gid, branch_id, "phase2_failed", f"{error} [retry in {retry_in:g}s]")
        metrics.phase2_retry()

    async def transaction_failed(self, gid: str, owner: str, retry_in: float) -> int | None:
        value: Any = await self.pool.fetchval(Q["transaction_failed"], gid, owner, retry_in)
        return None if value is None else int(value)

    async def reverse_commit(self, gid: str, owner: str, reason: str) -> bool:
        return await self.pool.fetchval(Q["reverse_commit"], gid, owner, reason) is not None

    async def give_up(self, gid: str, decision: Phase2, owner: str) -> None:
        deciding = TxState.COMMITTING if decision is Phase2.CONFIRM else TxState.ROLLING_BACK
        await self.pool.execute(Q["give_up"], gid, deciding.value, decision.failed_state.value, owner)

    async def resolve_branch(self, gid: str, branch_id: str, state: BranchState, detail: str) -> TxState | None:
        """Mark an open branch done by hand (with an event); None if the branch or transaction does not allow it.
        Returns the transaction's state after: terminal when that was its last open branch."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(Q["resolve_branch"], gid, branch_id, state.value):
                return None
            await record_event(conn, gid, branch_id, "resolved", detail)
            tx = await conn.fetchval("SELECT state FROM txc_transaction WHERE gid = $1", gid)
            decision = phase2_of(TxState(tx))
            closed = await conn.fetchval(Q["close_if_resolved"], gid, decision.final_state.value, tx)
            if closed == TxState.RESOLVED_MIXED:
                note = f"a person resolved it both ways: neither {decision.final_state.value} nor its opposite"
                await record_event(conn, gid, None, "resolved_mixed", note)
            return TxState(closed or tx)

    async def reopen(self, gid: str, decision: Phase2) -> bool:
        deciding = TxState.COMMITTING if decision is Phase2.CONFIRM else TxState.ROLLING_BACK
        return await self.pool.fetchval(Q["reopen"], gid, deciding.value, decision.failed_state.value) is not None

    async def expire_timed_out(self, owner: str, lease_s: float, limit: int) -> list[str]:
        return [r["gid"] for r in await self.pool.fetch(Q["expire_timed_out"], owner, lease_s, limit)]

    async def release(self, gid: str) -> bool:
        return await self.pool.fetchval(Q["release"], gid) is not None
