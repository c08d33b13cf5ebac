"""The barrier: keeps a participant correct when phase 2 arrives twice, late, or without its try.

A table in the participant's own database (DDL in ``sql/participant``) holds one row per (gid, branch, op),
inserted in the same local transaction as the business change:

- a duplicate try, confirm or cancel finds its row and is a no-op (``DUPLICATE``);
- a cancel whose try never ran inserts the try row itself (reason ``cancel``), so it is an empty
  compensation (``EMPTY_CANCEL``) and a late try finds that row and is refused (``REFUSED``, anti-hanging);
- otherwise the work runs in the same transaction as the row (``APPLIED``); if it raises, the row goes too.

All SQL is parameterised. Use :class:`PgBarrier` (asyncpg) or :class:`MySqlBarrier` (aiomysql)."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Generic, TypeVar

from sdk.errors import TxcError
from sdk.tcc_wire import OPS

T = TypeVar("T")


class BarrierOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EMPTY_CANCEL = "empty_cancel"
    REFUSED = "refused"


class BarrierError(TxcError):
    """The barrier could not be used (unknown op, missing table)."""


class BarrierRefused(TxcError):
    """A try arrived after its branch was cancelled: it must have no effect."""

    def __init__(self, gid: str, branch_id: str) -> None:
        super().__init__(
            f"try of branch {branch_id} of global transaction {gid!r} refused: the branch was already cancelled"
        )
        self.gid = gid
        self.branch_id = branch_id


class Guarded(Generic[T]):
    """What :meth:`run` did: the outcome, and the work's result when it ran."""

    __slots__ = ("outcome", "result")

    def __init__(self, outcome: BarrierOutcome, result: T | None = None) -> None:
        self.outcome = outcome
        self.result = result

    @property
    def applied(self) -> bool:
        return self.outcome is BarrierOutcome.APPLIED


def barrier_ddl(dialect: str) -> str:
    """The barrier table's DDL shipped in ``sql/participant`` (``postgresql`` or ``mysql``)."""
    try:
        return (resources.files("sql") / "participant" / f"barrier_{dialect}.sql").read_text()
    except FileNotFoundError as exc:
        raise BarrierError(f"no barrier DDL for dialect {dialect!r}; use 'postgresql' or 'mysql'") from exc


def _check(op: str) -> None:
    if op not in OPS:
        raise BarrierError(f"barrier op must be one of {', '.join(OPS)}, got {op!r}")


class PgBarrier:
    """Barrier on PostgreSQL through an asyncpg pool. ``work`` gets the connection of the local transaction."""

    _INSERT = (
        "INSERT INTO txc_barrier (gid, branch_id, op, reason) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (gid, branch_id, op) DO NOTHING"
    )
    _REASON = "SELECT reason FROM txc_barrier WHERE gid = $1 AND branch_id = $2 AND op = $3"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def install(self) -> None:
        """Create the barrier table if it does not exist."""
        async with self.pool.acquire() as conn:
            await conn.execute(barrier_ddl("postgresql"))

    async def _insert(self, conn: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        status = await conn.execute(self._INSERT, gid, branch_id, op, reason)
        return bool(status.endswith(" 1"))

    async def run(self, gid: str, branch_id: str, op: str, work: Callable[[Any], Awaitable[T]]) -> Guarded[T]:
        _check(op)
        async with self.pool.acquire() as conn, conn.transaction():
            if op == "cancel":
                tried = not await self._insert(conn, gid, branch_id, "try", "cancel")
                if not await self._insert(conn, gid, branch_id, "cancel", "cancel"):
                    return Guarded(BarrierOutcome.DUPLICATE)
                if not tried:
                    return Guarded(BarrierOutcome.EMPTY_CANCEL)
            elif not await self._insert(conn, gid, branch_id, op, op):
                if op == "try" and await conn.fetchval(self._REASON, gid, branch_id, "try") == "cancel":
                    return Guarded(BarrierOutcome.REFUSED)
                return Guarded(BarrierOutcome.DUPLICATE)
            return Guarded(BarrierOutcome.APPLIED, await work(conn))


class MySqlBarrier:
    """Barrier on MySQL / MariaDB (InnoDB) through an aiomysql pool. ``work`` gets the connection."""

    _INSERT = "INSERT IGNORE INTO txc_barrier (gid, branch_id, op, reason) VALUES (%s, %s, %s, %s)"
    _REASON = "SELECT reason FROM txc_barrier WHERE gid = %s AND branch_id = %s AND op = %s"

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def install(self) -> None:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(barrier_ddl("mysql"))
            await conn.commit()

    async def _insert(self, cur: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the driver warns about every row IGNORE skipped: that is the point
            return bool(await cur.execute(self._INSERT, (gid, branch_id, op, reason)) == 1)

    async def run(self, gid: str, branch_id: str, op: str, work: Callable[[Any], Awaitable[T]]) -> Guarded[T]:
        _check(op)
        async with self.pool.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cur:
                    outcome = await self._gate(cur, gid, branch_id, op)
                if outcome is not None:
                    await conn.commit()
                    return Guarded(outcome)
                result = await work(conn)
                await conn.commit()
                return Guarded(BarrierOutcome.APPLIED, result)
            except BaseException:
                await conn.rollback()
                raise

    async def _gate(self, cur: Any, gid: str, branch_id: str, op: str) -> BarrierOutcome | None:
        if op == "cancel":
            tried = not await self._insert(cur, gid, branch_id, "try", "cancel")
            if not await self._insert(cur, gid, branch_id, "cancel", "cancel"):
                return BarrierOutcome.DUPLICATE
            return None if tried else BarrierOutcome.EMPTY_CANCEL
        if not await self._insert(cur, gid, branch_id, op, op):
            if op == "try":
                await cur.execute(self._REASON, (gid, branch_id, "try"))
                row = await cur.fetchone()
                if row is not None and row[0] == "cancel":
                    return BarrierOutcome.REFUSED
            return BarrierOutcome.DUPLICATE
        return None


Barrier = PgBarrier | MySqlBarrier
