"""The saga store on the coordinator's PostgreSQL (same pool, same transaction table as TCC).
Statements live in ``queries.sql``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from txcoord.batching import Batcher
from txcoord.saga.records import SagaInstance, StepRecord, StepState
from txcoord.sql_queries import load_queries

Q = load_queries(Path(__file__).with_name("queries.sql"))


@dataclass(frozen=True)
class Progress:
    """Rows of one saga written in one commit: (step id, 'S' succeeded | 'R' attempt starts, JSON body)."""

    gid: str
    owner: str
    rows: tuple[tuple[str, str, str], ...]


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SagaStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # the hot path (every step's start and end) is group-committed across concurrent sagas
        self._progress: Batcher[Progress, bool] = Batcher(self._write_progress)

    async def _write_progress(self, items: Sequence[Progress]) -> list[bool]:
        """One statement for many items; an item (one saga's rows) is written whole or reported failed."""
        by_owner: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            by_owner.setdefault(item.owner, []).append(n)
        ok = [False] * len(items)
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
            for r in rows:
                n = row_item[r["ord"] - 1]
                written[n] = written.get(n, 0) + 1
            for n in indexes:
                ok[n] = written.get(n, 0) == len(items[n].rows)
        return ok

    async def close(self) -> None:
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

    # -- instances ------------------------------------------------------------------------------------------
    async def start(
        self,
        gid: str,
        name: str,
        version: int,
        input_json: str,
        key: str | None,
        timeout_s: float,
        step_ids: Sequence[str],
        owner: str,
        lease_s: float,
        first_inputs: Sequence[Any] = (),
    ) -> tuple[str, bool]:
        """Write the instance (RUNNING, owned by ``owner``) and its steps in one statement: PENDING, or for
        the steps in ``first_inputs`` (step id -> input) already RUNNING with their first attempt.
        Returns (gid, created); with an idempotency key already used, the first instance's gid."""
        try:
            if key:
                existing = await self.pool.fetchval(Q["by_idempotency_key"], key)
                if existing is not None:
                    return str(existing), False
            inputs = dict(first_inputs) if first_inputs else {}
            firsts = [json.dumps(inputs[sid]) if sid in inputs else None for sid in step_ids]
            row = await self.pool.fetchval(
                Q["start"], gid, timeout_s, owner, lease_s, name, version, input_json, key, list(step_ids), firsts
            )
            return gid, row is not None  # no row: the same gid started before (a retried call)
        except asyncpg.UniqueViolationError:
            # a concurrent start with the same key won: answer with its instance
            existing = await self.pool.fetchval(Q["by_idempotency_key"], key)
            if existing is None:
                raise
            return str(existing), False

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
    async def step_started(self, gid: str, step_id: str, input_value: Any, owner: str) -> bool:
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
    ) -> bool:
        """Record the step's output and, in the same commit, the first attempt of each of ``starts``
        ((step id, input)): steps this success made ready; with ``finish``, the saga's success too."""
        rows = ((step_id, "S", json.dumps(output)), *((sid, "R", json.dumps(value)) for sid, value in starts))
        if finish:
            rows = (*rows, (step_id, "F", "null"))
        return await self._progress.submit(Progress(gid, owner, rows))

    async def step_attempt_failed(
        self, gid: str, step_id: str, error: str, retry_in: float, owner: str, *, final: bool
    ) -> bool:
        state = StepState.FAILED if final else StepState.RUNNING
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await conn.fetchval(Q["step_attempt_failed"], gid, step_id, error, retry_in, owner, state.value)
            if ok is not None:
                detail = error if final else f"{error} [retry in {retry_in:g}s]"
                await conn.execute(Q["add_event"], gid, step_id, "step_failed" if final else "attempt_failed", detail)
        return ok is not None

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
                await conn.execute(
                    Q["add_event"], gid, step_id, "compensation_failed", f"{error} [retry in {retry_in:g}s]"
                )
        return ok is not None

    async def step_compensated(self, gid: str, step_id: str, owner: str) -> bool:
        return await self.pool.fetchval(Q["step_compensated"], gid, step_id, owner) is not None

    async def finish(self, gid: str, from_state: str, final_state: str, owner: str) -> bool:
        return await self.pool.fetchval(Q["finish"], gid, from_state, final_state, owner) is not None

    async def add_event(self, gid: str, step_id: str | None, event: str, detail: str | None) -> None:
        await self.pool.execute(Q["add_event"], gid, step_id, event, detail)

    # -- ownership, as for TCC phase 2 ------------------------------------------------------------------------
    async def claim(
        self, owner: str, lease_s: float, limit: int, exclude: Sequence[str]
    ) -> list[tuple[str, str | None]]:
        rows = await self.pool.fetch(Q["claim"], owner, lease_s, limit, list(exclude))
        return [(r["gid"], r["previous_owner"]) for r in rows]

    async def renew(self, owner: str, lease_s: float, gids: Sequence[str]) -> list[str]:
        return [r["gid"] for r in await self.pool.fetch(Q["renew"], owner, lease_s, list(gids))]
