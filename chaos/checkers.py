"""Checkers every workload gets: quiescence (every global transaction terminal within a bound after heal,
the slowest reported) and no XA branch left prepared in a MariaDB the harness runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiomysql
import asyncpg

from chaos.model import Check
from chaos.system import System

# end states of a global transaction: TCC's, then a saga's (txc_transaction holds both)
DONE = ("COMMITTED", "SUCCEEDED")
UNDONE = ("ROLLED_BACK", "COMPENSATED")
TERMINAL = DONE + UNDONE


async def _non_terminal(system: System) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(system.store_url())
    try:
        rows = await conn.fetch(
            "SELECT gid, state, owner, attempts, reason FROM txc_transaction WHERE state <> ALL($1::text[])",
            list(TERMINAL),
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def wait_quiescent(system: System, bound: float) -> tuple[float, list[dict[str, Any]]]:
    """Poll until no transaction is left non-terminal or ``bound`` seconds pass; (seconds waited, left)."""
    start = time.monotonic()
    left: list[dict[str, Any]] = []
    while time.monotonic() - start < bound:
        try:
            left = await _non_terminal(system)
        except (OSError, asyncpg.PostgresError) as exc:
            left = [{"error": str(exc)}]
        if not left:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - start, left


async def slowest(system: System, n: int = 5) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(system.store_url())
    try:
        rows = await conn.fetch(
            "SELECT gid, state, EXTRACT(EPOCH FROM finished_at - created_at)::float8 AS seconds "
            "FROM txc_transaction WHERE finished_at IS NOT NULL ORDER BY finished_at - created_at DESC LIMIT $1",
            n,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


def terminal_check(waited: float, left: list[dict[str, Any]], bound: float, slow: list[dict[str, Any]]) -> Check:
    worst = f"; slowest {slow[0]['gid']} took {slow[0]['seconds']:.1f}s" if slow else ""
    return Check(
        f"every global transaction terminal within {bound:.0f}s after heal",
        not left,
        f"quiescent after {waited:.1f}s{worst}" if not left else f"{len(left)} still not terminal after {bound:.0f}s",
        left,
    )


async def xa_prepared_check(system: System) -> Check:
    if system.mysql is None:
        return Check("no XA branch left prepared", True, "no MariaDB in this system")
    conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root")
    try:
        async with conn.cursor() as cur:
            await cur.execute("XA RECOVER")
            rows = list(await cur.fetchall())
    finally:
        conn.close()
    return Check("no XA branch left prepared", not rows, f"{len(rows)} prepared", [{"xid": str(r)} for r in rows])


async def coordinator_events(system: System, wall0: float) -> list[tuple[str, float]]:
    """Takeovers and timeouts the coordinators recorded, as (event, seconds since the history started)."""
    conn = await asyncpg.connect(system.store_url())
    try:
        rows = await conn.fetch(
            "SELECT event, EXTRACT(EPOCH FROM at)::float8 AS at FROM txc_event "
            "WHERE event IN ('taken_over', 'timed_out') ORDER BY at"
        )
    finally:
        await conn.close()
    return [(r["event"], r["at"] - wall0) for r in rows]
