"""The saga store on the coordinator's PostgreSQL (same pool, same transaction table as TCC).
Statements live in ``queries.sql``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from txcoord.saga.records import SagaInstance, StepRecord, StepState
from txcoord.sql_queries import load_queries

Q = load_queries(Path(__file__).with_name("queries.sql"))


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SagaStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

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
    ) -> tuple[str, bool]:
        """Write the instance (RUNNING, owned by ``owner``) and its PENDING steps in one transaction.
        Returns (gid, created); with an idempotency key already used, the first instance's gid."""
        try:
            if key:
                existing = await self.pool.fetchval(Q["by_idempotency_key"], key)
                if existing is not None:
                    return str(existing), False
            row = await self.pool.fetchval(
                Q["start"], gid, timeout_s, owner, lease_s, name, version, input_json, key, list(step_ids)
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
        return await self.pool.fetchval(Q["step_started"], gid, step_id, json.dumps(input_value), owner) is not None

    async def step_succeeded(self, gid: str, step_id: str, output: Any, owner: str) -> bool:
        return await self.pool.fetchval(Q["step_succeeded"], gid, step_id, json.dumps(output), owner) is not None

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
