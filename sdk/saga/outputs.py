"""A participant's record of its saga steps' outputs, next to the barrier (DDL in ``sdk/ddl``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sdk.barrier import Barrier, BarrierError, MySqlBarrier, PgBarrier
from sdk.ddl import participant_ddl


class OutputStore:
    """Writes an output inside the barrier's local transaction; reads it back for a duplicate action."""

    def __init__(self, barrier: Barrier) -> None:
        if not isinstance(barrier, PgBarrier | MySqlBarrier):
            raise BarrierError(f"saga step outputs need a PgBarrier or MySqlBarrier, not {type(barrier).__name__}")
        self.barrier: PgBarrier | MySqlBarrier = barrier
        self._installed = False
        self._lock = asyncio.Lock()

    async def install(self) -> None:
        """Create the table unless it exists (once per process; safe against other processes doing the same)."""
        if self._installed:
            return
        async with self._lock:
            if self._installed:
                return
            for attempt in range(3):
                try:
                    await self._create()
                    break
                except Exception as exc:
                    # PostgreSQL's CREATE TABLE IF NOT EXISTS is not atomic: a concurrent creator makes it fail
                    # with a unique violation on the catalog; the table then exists, and the retry sees it
                    if attempt == 2 or "already exists" not in str(exc):
                        raise
            self._installed = True

    async def _create(self) -> None:
        if isinstance(self.barrier, PgBarrier):
            async with self.barrier.pool.acquire() as conn:
                await conn.execute(participant_ddl("saga_output", "postgresql"))
        elif not await self.barrier.has_table("txc_saga_output"):  # IF NOT EXISTS would warn on every start
            async with self.barrier.pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute(participant_ddl("saga_output", "mysql"))
                await conn.commit()

    async def write(self, conn: Any, gid: str, step_id: str, output: Any) -> None:
        """On the barrier's connection, so the output commits with the action or not at all."""
        text = json.dumps(output)
        if isinstance(self.barrier, PgBarrier):
            await conn.execute(
                "INSERT INTO txc_saga_output (gid, step_id, output) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                gid,
                step_id,
                text,
            )
        else:
            async with conn.cursor() as cur:
                await cur.execute(
                    "INSERT IGNORE INTO txc_saga_output (gid, step_id, output) VALUES (%s, %s, %s)",
                    (gid, step_id, text),
                )

    async def read(self, gid: str, step_id: str) -> Any:
        if isinstance(self.barrier, PgBarrier):
            text = await self.barrier.pool.fetchval(
                "SELECT output FROM txc_saga_output WHERE gid = $1 AND step_id = $2", gid, step_id
            )
        else:
            async with self.barrier.pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT output FROM txc_saga_output WHERE gid = %s AND step_id = %s", (gid, step_id))
                row = await cur.fetchone()
                await conn.commit()
                text = row[0] if row else None
        return None if text is None else json.loads(text)


_STORES: dict[int, tuple[Barrier, OutputStore]] = {}


def outputs_for(barrier: Barrier) -> OutputStore:
    """One output store per barrier, shared by every saga step served with it."""
    entry = _STORES.get(id(barrier))
    if entry is None or entry[0] is not barrier:
        entry = _STORES[id(barrier)] = (barrier, OutputStore(barrier))
    return entry[1]
