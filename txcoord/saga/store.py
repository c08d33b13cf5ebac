"""The saga store on the coordinator's PostgreSQL (same pool, same transaction table as TCC).
Statements live in ``queries.sql``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from txcoord import metrics
from txcoord.batching import Batcher
from txcoord.engine.leases import PgLeases, record_event
from txcoord.model import TxState
from txcoord.saga.records import SagaInstance, StepRecord, StepState
from txcoord.sql_queries import load_queries
from txcoord.store.outage import refused

Q = load_queries(Path(__file__).with_name("queries.sql"))


@dataclass(frozen=True)
class Progress:
    """Rows of one saga written in one commit: (step id, 'S' succeeded | 'R' attempt starts, JSON body)."""

    gid: str
    owner: str
    rows: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Written:
    """What the store reports of a write it made: the commit's time and, for a step's success, its place in
    the completion order (so the orchestrator's copy of the instance matches the log without reading it)."""

    at: datetime
    completion_seq: int | None = None


@dataclass(frozen=True)
class NewSaga:
    """One saga start: the instance row and its steps (``firsts``: the first attempt's input of the steps that
    start at once, as JSON text; None for a step that waits)."""

    gid: str
    name: str
    version: int
    input_json: str
    key: str | None
    timeout_s: float
    step_ids: tuple[str, ...]
    firsts: tuple[str | None, ...]


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class StepByHand:
    """What a person did by hand for a saga marked for them: compensated ``step_id`` (``output_json`` None), or
    completed the forward step ``step_id`` with the output ``output_json`` (JSON text)."""

    step_id: str
    output_json: str | None = None


class SagaStore(PgLeases):
    def __init__(self, pool: asyncpg.Pool, owner: str = "", lease_s: float = 10.0) -> None:
        super().__init__(pool, (TxState.RUNNING, TxState.COMPENSATING))
        self.owner, self.lease_s = owner, lease_s  # starts are owned by this coordinator
        # the hot path (every start, every step's start and end) is group-committed across concurrent sagas
        self._starts: Batcher[NewSaga, Written | None] = Batcher(self._write_starts, split=refused, metric="saga_start")
        self._progress: Batcher[Progress, Written | None] = Batcher(
            self._write_progress, split=refused, metric="saga_progress"
        )

    async def _write_starts(self, items: Sequence[NewSaga]) -> list[Written | None]:
        """One statement for many starts; None for a start that created nothing (its gid exists, or its
        idempotency key is taken). A gid or a key seen twice in a batch goes to a later statement; when a key
        is taken meanwhile (by another coordinator), each start is written alone so that only its own fails."""
        first: list[NewSaga] = []
        later: list[NewSaga] = []
        seen: set[str] = set()
        for item in items:
            names = {f"g:{item.gid}", *((f"k:{item.key}",) if item.key is not None else ())}
            if names & seen:
                later.append(item)
                continue
            seen |= names
            first.append(item)
        try:
            written = await self._insert_starts(first)
        except asyncpg.UniqueViolationError:
            written = {}
            for item in first:
                with contextlib.suppress(asyncpg.UniqueViolationError):
                    written.update(await self._insert_starts([item]))
        if later:
            written.update(
                (id(item), w) for item, w in zip(later, await self._write_starts(later), strict=True) if w is not None
            )
        return [written.get(id(item)) for item in items]

    async def _insert_starts(self, items: Sequence[NewSaga]) -> dict[int, Written]:
        """{id(item): Written} for the starts that created their instance."""
        step_gids: list[str] = []
        step_ids: list[str] = []
        firsts: list[str | None] = []
        for item in items:
            step_gids += [item.gid] * len(item.step_ids)
            step_ids += item.step_ids
            firsts += item.firsts
        rows = await self.pool.fetch(
            Q["start"],
            [i.gid for i in items],
            [i.timeout_s for i in items],
            [i.name for i in items],
            [i.version for i in items],
            [i.input_json for i in items],
            [i.key for i in items],
            self.owner,
            self.lease_s,
            step_gids,
            step_ids,
            firsts,
        )
        by_gid = {item.gid: id(item) for item in items}
        return {by_gid[r["gid"]]: Written(r["at"]) for r in rows}

    async def _write_progress(self, items: Sequence[Progress]) -> list[Written | None]:
        """One statement for many items; an item (one saga's rows) is written whole or reported failed."""
        by_owner: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            by_owner.setdefault(item.owner, []).append(n)
        results: list[Written | None] = [None] * len(items)
        for owner, indexes in by_owner.items():  # one owner per coordinator: one statement
            gids, steps, kinds, bodies, row_item = [], [], [], [], []
            for n in indexes:
                for step_id, kind, body in items[n].rows:
                    gids.append(items[n].gid)
                    steps.append(step_id)
                    kinds.append(kind)
                    bodies.append(body)
                    row_item.append(n)
            rows = await self.pool.fetch(Q["steps_progress"], gids, steps, kinds, bodies, owner)
            written: dict[int, int] = {}
            seqs: dict[int, int] = {}
            at: datetime | None = None
            for r in rows:
                if r["seconds"] is not None:  # a saga's success, and how long it took
                    metrics.transaction_finished("SAGA", "SUCCEEDED", r["seconds"])
                n = row_item[r["ord"] - 1]
                written[n] = written.get(n, 0) + 1
                at = r["at"]  # one transaction: one now()
                if r["seq"] is not None:
                    seqs[n] = r["seq"]
            for n in indexes:
                if at is not None and written.get(n, 0) == len(items[n].rows):
                    results[n] = Written(at, seqs.get(n))
        return results

    async def close(self) -> None:
        await self._starts.close()
        await self._progress.close()

    # -- definitions ----------------------------------------------------------------------------------------
    async def register_definition(self, name: str, version: int, source: str) -> tuple[bool, str]:
        """(created, the stored source): a version is written once; a second register returns what is stored."""
        async with self.pool.acquire() as conn:
            created = await conn.fetchval(Q["insert_definition"], name, version, source) is not None
            stored = await conn.fetchval(Q["definition_source"], name, version)
        return created, str(stored)

    async def definition(self, name: str, version: int) -> str | None:
        value = await self.pool.fetchval(Q["definition_source"], name, version)
        return None if value is None else str(value)

    async def latest_definition(self, name: str) -> tuple[int, str] | None:
        row = await self.pool.fetchrow(Q["latest_definition"], name)
        return None if row is None else (row["version"], row["source"])

    async def definitions(self, name: str | None, limit: int) -> list[asyncpg.Record]:
        """(name, version, source, registered_at) of each registered version, newest version of a name first."""
        return list(await self.pool.fetch(Q["definitions"], name, limit))

    # -- instances ------------------------------------------------------------------------------------------
    async def start(self, new: NewSaga) -> tuple[str, Written | None]:
        """Write the instance (RUNNING, owned by this coordinator) and its steps: PENDING, or for the steps
        with a first input already RUNNING with their first attempt. Returns (gid, what was written); None
        when nothing was: the gid started before (a retried call), or the idempotency key is taken, and then
        the gid is the first instance's."""
        if new.key:
            existing = await self.pool.fetchval(Q["by_idempotency_key"], new.key)
            if existing is not None:
                return str(existing), None
        written = await self._starts.submit(new)
        if written is not None:
            metrics.transaction_started("SAGA")
        if written is None and new.key:  # a concurrent start with the same key may have won
            existing = await self.pool.fetchval(Q["by_idempotency_key"], new.key)
            if existing is not None:
                return str(existing), None
        return new.gid, written

    async def load(self, gid: str) -> SagaInstance | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(Q["instance"], gid)
            if row is None:
                return None
            steps = await conn.fetch(Q["steps"], gid)
        instance = SagaInstance(
            gid=row["gid"],
            name=row["name"],
            version=row["version"],
            state=row["state"],
            input=_json(row["input"]),
            reason=row["reason"],
            error=row["error"],
            owner=row["owner"],
            deadline=row["deadline"],
            expired=row["expired"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )
        for s in steps:
            instance.steps[s["step_id"]] = StepRecord(
                step_id=s["step_id"],
                state=StepState(s["state"]),
                input=_json(s["input"]),
                output=_json(s["output"]),
                attempts=s["attempts"],
                comp_attempts=s["comp_attempts"],
                last_error=s["last_error"],
                started_at=s["started_at"],
                ended_at=s["ended_at"],
                completion_seq=s["completion_seq"],
                compensated_at=s["compensated_at"],
                next_attempt_at=s["next_attempt_at"],
            )
        return instance

    async def state(self, gid: str) -> str | None:
        value = await self.pool.fetchval(Q["state"], gid)
        return None if value is None else str(value)

    # -- progress (each returns False when ``owner`` no longer owns the instance) ----------------------------
    async def step_started(self, gid: str, step_id: str, input_value: Any, owner: str) -> Written | None:
        return await self._progress.submit(Progress(gid, owner, ((step_id, "R", json.dumps(input_value)),)))

    async def step_succeeded(
        self,
        gid: str,
        step_id: str,
        output: Any,
        owner: str,
        starts: Sequence[tuple[str, Any]] = (),
        *,
        finish: bool = False,
    ) -> Written | None:
        """Record the step's output and, in the same commit, the first attempt of each of ``starts``
        ((step id, input)): steps this success made ready; with ``finish``, the saga's success too.
        None when ``owner`` no longer owns the instance."""
        rows = ((step_id, "S", json.dumps(output)), *((sid, "R", json.dumps(value)) for sid, value in starts))
        if finish:
            rows = (*rows, (step_id, "F", "null"))
        written = await self._progress.submit(Progress(gid, owner, rows))
        if written is not None:
            metrics.saga_step_succeeded()
        return written

    async def step_attempt_failed(
        self,
        gid: str,
        step_id: str,
        error: str,
        retry_in: float,
        owner: str,
        *,
        final: bool,
        delivered: bool = True,
    ) -> bool:
        """``delivered`` False: the attempt never reached a participant (no endpoint, no such action); its
        event says so, and a step none of whose attempts was delivered is not compensated."""
        state = StepState.FAILED if final else StepState.RUNNING
        event = ("step" if final else "attempt") + ("_failed" if delivered else "_not_delivered")
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await conn.fetchval(Q["step_attempt_failed"], gid, step_id, error, retry_in, owner, state.value)
            if ok is not None:
                detail = error if final else f"{error} [retry in {retry_in:g}s]"
                await record_event(conn, gid, step_id, event, detail)
                metrics.saga_step("failed" if final else "retried")
        return ok is not None

    async def undelivered_attempts(self, gid: str, step_id: str) -> int:
        return int(await self.pool.fetchval(Q["undelivered_attempts"], gid, step_id))

    async def start_compensation(self, gid: str, reason: str, owner: str) -> bool:
        return await self.pool.fetchval(Q["start_compensation"], gid, reason, owner) is not None

    async def set_error(self, gid: str, error: str) -> None:
        await self.pool.execute(Q["set_error"], gid, error)

    async def compensation_attempt(
        self, gid: str, step_id: str, owner: str, error: str | None = None, retry_in: float = 0.0
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await conn.fetchval(Q["compensation_attempt"], gid, step_id, error, retry_in, owner)
            if ok is not None and error is not None:
                await record_event(conn, gid, step_id, "compensation_failed", f"{error} [retry in {retry_in:g}s]")
        return ok is not None

    async def needs_person(self, gid: str, step_id: str, why: str, owner: str, *, forward: bool = False) -> bool:
        """COMPENSATION_FAILED (or FORWARD_FAILED, for a forward step), unowned, with the reason in the timeline;
        False when ``owner`` lost the saga."""
        driven, waiting = (
            (TxState.RUNNING, TxState.FORWARD_FAILED)
            if forward
            else (
                TxState.COMPENSATING,
                TxState.COMPENSATION_FAILED,
            )
        )
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await conn.fetchval(Q["needs_person"], gid, owner, driven.value, waiting.value)
            if ok is not None:
                await record_event(conn, gid, step_id, "needs_person", why)
        return ok is not None

    async def reopen(
        self, gid: str, owner: str, event: str, detail: str, by_hand: StepByHand | None = None
    ) -> TxState | None:
        """A saga marked for a person back to being driven (COMPENSATING, or RUNNING going forward), owned by
        ``owner``, in one commit with its timeline entry; with ``by_hand``, that step is first recorded as done
        by a person (compensated, or completed with the output they give). The state it is driven in, or None
        (nothing written) when the saga is not marked for a person or the step has nothing left to do."""
        async with self.pool.acquire() as conn, conn.transaction():
            if by_hand is not None:
                if by_hand.output_json is None:
                    done = await conn.fetchval(Q["resolve_step"], gid, by_hand.step_id)
                else:
                    done = await conn.fetchval(Q["complete_step"], gid, by_hand.step_id, by_hand.output_json)
                if done is None:
                    return None
            state = await conn.fetchval(Q["reopen"], gid, owner, self.lease_s)
            if state is None:
                return None
            await record_event(conn, gid, by_hand.step_id if by_hand else None, event, detail)
        return TxState(state)

    async def step_compensated(self, gid: str, step_id: str, owner: str) -> bool:
        compensated = await self.pool.fetchval(Q["step_compensated"], gid, step_id, owner) is not None
        if compensated:
            metrics.saga_step("compensated")
        return compensated

    async def finish(self, gid: str, from_state: str, final_state: str, owner: str) -> datetime | None:
        """The time the saga ended, or None when ``owner`` no longer owns it."""
        row = await self.pool.fetchrow(Q["finish"], gid, from_state, final_state, owner)
        if row is None:
            return None
        metrics.transaction_finished("SAGA", final_state, row["seconds"])
        finished: datetime = row["finished_at"]
        return finished
