"""A transaction's kind, its timeline, and ownership by lease on PostgreSQL: the one implementation of
``txcoord.engine.store.Store``, the base of the TCC store and of the saga store, each for the states its mode
drives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from txcoord.model import Event, TxState
from txcoord.sql_queries import load_queries

Q = load_queries(Path(__file__).with_name("queries.sql"))


async def record_event(conn: Any, gid: str, branch_id: str | None, event: str, detail: str | None) -> None:
    """One timeline entry through ``conn`` (a pool, or a connection inside a store's transaction)."""
    await conn.execute(Q["add_event"], gid, branch_id, event, detail)


class PgLeases:
    """The base of each mode's PostgreSQL store."""

    def __init__(self, pool: asyncpg.Pool, driving: Sequence[TxState]) -> None:
        self.pool = pool
        # the states in which this mode drives a transaction, as the literal list its partial index names
        in_driving = ", ".join(f"'{state.value}'" for state in driving)
        self._claim = Q["claim"].replace("{driving}", in_driving)
        self._renew = Q["renew"].replace("{driving}", in_driving)

    async def kind(self, gid: str) -> str | None:
        value = await self.pool.fetchval(Q["kind"], gid)
        return None if value is None else str(value)

    async def events(self, gid: str, limit: int = 200) -> list[Event]:
        rows = await self.pool.fetch(Q["events"], gid, limit)
        return [Event(r["gid"], r["branch_id"], r["at"], r["event"], r["detail"]) for r in rows]

    async def add_event(self, gid: str, branch_id: str | None, event: str, detail: str | None) -> None:
        await record_event(self.pool, gid, branch_id, event, detail)

    async def claim(
        self, owner: str, lease_s: float, limit: int, exclude: Sequence[str]
    ) -> list[tuple[str, str | None]]:
        rows = await self.pool.fetch(self._claim, owner, lease_s, limit, list(exclude))
        return [(r["gid"], r["previous_owner"]) for r in rows]

    async def renew(self, owner: str, lease_s: float, gids: Sequence[str]) -> list[str]:
        return [r["gid"] for r in await self.pool.fetch(self._renew, owner, lease_s, list(gids))]
