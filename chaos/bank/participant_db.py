"""Read a chaos bank's own tables directly (not through the fault links): balances and barrier rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiomysql
import asyncpg

from chaos.model import ParticipantSpec

if TYPE_CHECKING:
    from chaos.system import System

BARRIER = "SELECT gid, branch_id, op, reason FROM txc_barrier"
ACCOUNTS = "SELECT id, balance, frozen, incoming FROM bank_account ORDER BY id"


async def _fetch(system: System, spec: ParticipantSpec, sql: str) -> list[tuple[object, ...]]:
    if spec.db == "mysql":
        assert system.mysql is not None
        conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root", db="bank")
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
                return list(await cur.fetchall())
        finally:
            conn.close()
    pg = await asyncpg.connect(system.bank_pg_url(spec.service))
    try:
        return [tuple(r) for r in await pg.fetch(sql)]
    finally:
        await pg.close()


async def barrier_reasons(system: System, spec: ParticipantSpec) -> dict[tuple[str, str, str], str]:
    """{(gid, branch, op): reason}; a ``try`` row's reason says whether the try applied (``try``) or was
    blocked by a cancel that came first (see sdk/barrier.py)."""
    return {(str(g), str(b), str(o)): str(r) for g, b, o, r in await _fetch(system, spec, BARRIER)}


async def barrier_rows(system: System, spec: ParticipantSpec) -> set[tuple[str, str, str]]:
    return set(await barrier_reasons(system, spec))


async def balances(system: System, spec: ParticipantSpec) -> dict[str, dict[str, int]]:
    rows = await _fetch(system, spec, ACCOUNTS)
    return {str(r[0]): {"balance": int(r[1]), "frozen": int(r[2]), "incoming": int(r[3])} for r in rows}  # type: ignore[call-overload]
