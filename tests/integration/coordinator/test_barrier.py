"""The barrier contract on the real databases: PostgreSQL (asyncpg), MariaDB (aiomysql), and a third driver
written here in under 40 lines (SQLAlchemy async over PostgreSQL) to show that a driver is a small class."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiomysql
import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sdk.barrier import Barrier, BarrierOutcome, MySqlBarrier, PgBarrier, barrier_ddl
from tests.support.databases import MARIADB_HOST, MARIADB_PORT

NewDb = Callable[..., Awaitable[str]]


class PgLedger:
    """A counter changed by each applied phase, so an effect that happens twice shows."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.barrier = PgBarrier(pool)

    async def setup(self) -> None:
        await self.barrier.install()
        await self.pool.execute("CREATE TABLE ledger (op text PRIMARY KEY, n int NOT NULL)")

    def bump(self, op: str) -> Callable[[Any], Awaitable[str]]:
        async def work(conn: Any) -> str:
            await conn.execute("INSERT INTO ledger VALUES ($1, 1) ON CONFLICT (op) DO UPDATE SET n = ledger.n + 1", op)
            return op

        return work

    async def counts(self) -> dict[str, int]:
        return {r["op"]: r["n"] for r in await self.pool.fetch("SELECT op, n FROM ledger")}


class MyLedger:
    def __init__(self, pool: aiomysql.Pool) -> None:
        self.pool = pool
        self.barrier = MySqlBarrier(pool)

    async def setup(self) -> None:
        await self.barrier.install()
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("CREATE TABLE ledger (op VARCHAR(16) PRIMARY KEY, n INT NOT NULL)")
            await conn.commit()

    def bump(self, op: str) -> Callable[[Any], Awaitable[str]]:
        async def work(conn: Any) -> str:
            async with conn.cursor() as cur:
                await cur.execute("INSERT INTO ledger VALUES (%s, 1) ON DUPLICATE KEY UPDATE n = n + 1", (op,))
            return op

        return work

    async def counts(self) -> dict[str, int]:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await conn.commit()  # a fresh snapshot
            await cur.execute("SELECT op, n FROM ledger")
            return {op: n for op, n in await cur.fetchall()}


# --- the third driver: everything a new database API needs (the decision table is shared) ---------------------
class SqlAlchemyBarrier(Barrier):
    """Barrier over a SQLAlchemy ``AsyncEngine`` (PostgreSQL); ``work`` gets the ``AsyncConnection``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def install(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(barrier_ddl("postgresql")))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    async def insert(self, conn: Any, gid: str, branch_id: str, op: str, reason: str) -> bool:
        result = await conn.execute(
            text(
                "INSERT INTO txc_barrier AS t VALUES (:g, :b, :o, :r) ON CONFLICT (gid, branch_id, op) "
                "DO UPDATE SET reason = t.reason RETURNING t.xmax = 0"  # locks a found row; true if inserted
            ),
            {"g": gid, "b": branch_id, "o": op, "r": reason},
        )
        return bool(result.scalar())

    async def lock_rows(self, conn: Any, gid: str, branch_id: str) -> dict[str, str]:
        result = await conn.execute(
            text("SELECT op, reason FROM txc_barrier WHERE gid = :g AND branch_id = :b FOR UPDATE"),
            {"g": gid, "b": branch_id},
        )
        return {op: reason for op, reason in result.all()}


# --- end of the third driver ---------------------------------------------------------------------------------


class AlchemyLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.barrier = SqlAlchemyBarrier(engine)

    async def setup(self) -> None:
        await self.barrier.install()
        async with self.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE ledger (op text PRIMARY KEY, n int NOT NULL)"))

    def bump(self, op: str) -> Callable[[Any], Awaitable[str]]:
        async def work(conn: AsyncConnection) -> str:
            await conn.execute(
                text("INSERT INTO ledger VALUES (:op, 1) ON CONFLICT (op) DO UPDATE SET n = ledger.n + 1"), {"op": op}
            )
            return op

        return work

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            return {op: n for op, n in (await conn.execute(text("SELECT op, n FROM ledger"))).all()}


@pytest.fixture(params=["postgresql", "mysql", "sqlalchemy"])
async def ledger(request: pytest.FixtureRequest, new_db: NewDb, mariadb_database: str) -> AsyncIterator[Any]:
    if request.param == "postgresql":
        pool = await asyncpg.create_pool(await new_db(), min_size=1, max_size=4)
        led: Any = PgLedger(pool)
        await led.setup()
        yield led
        await pool.close()
    elif request.param == "sqlalchemy":
        dsn = (await new_db()).replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(dsn, pool_size=4)
        led = AlchemyLedger(engine)
        await led.setup()
        yield led
        await engine.dispose()
    else:
        pool = await aiomysql.create_pool(
            host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", db=mariadb_database, maxsize=4
        )
        async with pool.acquire() as conn, conn.cursor() as cur:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Unknown table" notes from IF EXISTS
                await cur.execute("DROP TABLE IF EXISTS ledger")
                await cur.execute("DROP TABLE IF EXISTS txc_barrier")
            await conn.commit()
        led = MyLedger(pool)
        await led.setup()
        yield led
        pool.close()
        await pool.wait_closed()


async def test_try_then_confirm_applies_each_once_and_duplicates_are_no_ops(ledger: Any) -> None:
    b = ledger.barrier
    assert (await b.run("g1", "1", "try", ledger.bump("try"))).outcome is BarrierOutcome.APPLIED
    assert (await b.run("g1", "1", "try", ledger.bump("try"))).outcome is BarrierOutcome.DUPLICATE
    first = await b.run("g1", "1", "confirm", ledger.bump("confirm"))
    assert first.outcome is BarrierOutcome.APPLIED and first.result == "confirm"
    assert (await b.run("g1", "1", "confirm", ledger.bump("confirm"))).outcome is BarrierOutcome.DUPLICATE
    assert await ledger.counts() == {"try": 1, "confirm": 1}


async def test_cancel_without_try_is_empty_and_refuses_the_late_try(ledger: Any) -> None:
    b = ledger.barrier
    assert (await b.run("g2", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.EMPTY_CANCEL
    assert (await b.run("g2", "1", "try", ledger.bump("try"))).outcome is BarrierOutcome.REFUSED
    assert (await b.run("g2", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.DUPLICATE
    assert await ledger.counts() == {}


async def test_cancel_after_try_compensates_once(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g3", "1", "try", ledger.bump("try"))
    assert (await b.run("g3", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.APPLIED
    assert (await b.run("g3", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.DUPLICATE
    assert await ledger.counts() == {"try": 1, "cancel": 1}


async def test_a_failing_try_leaves_no_barrier_row_so_its_cancel_is_empty(ledger: Any) -> None:
    b = ledger.barrier

    async def refuse(conn: Any) -> None:
        await ledger.bump("try")(conn)
        raise RuntimeError("insufficient funds")

    with pytest.raises(RuntimeError):
        await b.run("g4", "1", "try", refuse)
    assert (await b.run("g4", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.EMPTY_CANCEL
    assert await ledger.counts() == {}  # the try's own change went with its local transaction


async def test_branches_are_independent(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g5", "1", "try", ledger.bump("try"))
    assert (await b.run("g5", "2", "try", ledger.bump("try"))).outcome is BarrierOutcome.APPLIED
    assert await ledger.counts() == {"try": 2}


async def test_confirm_without_try_is_refused_and_blocks_the_late_try(ledger: Any) -> None:
    b = ledger.barrier
    refused = await b.run("g6", "1", "confirm", ledger.bump("confirm"))
    assert refused.outcome is BarrierOutcome.REFUSED and "never applied" in refused.why
    assert (await b.run("g6", "1", "try", ledger.bump("try"))).outcome is BarrierOutcome.REFUSED
    assert (await b.run("g6", "1", "confirm", ledger.bump("confirm"))).outcome is BarrierOutcome.REFUSED
    assert (await b.run("g6", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.EMPTY_CANCEL
    assert await ledger.counts() == {}


async def test_confirm_after_cancel_is_refused(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g7", "1", "try", ledger.bump("try"))
    await b.run("g7", "1", "cancel", ledger.bump("cancel"))
    refused = await b.run("g7", "1", "confirm", ledger.bump("confirm"))
    assert refused.outcome is BarrierOutcome.REFUSED and "cancelled" in refused.why
    assert await ledger.counts() == {"try": 1, "cancel": 1}


async def test_confirm_after_empty_cancel_is_refused(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g8", "1", "cancel", ledger.bump("cancel"))
    assert (await b.run("g8", "1", "confirm", ledger.bump("confirm"))).outcome is BarrierOutcome.REFUSED
    assert await ledger.counts() == {}


async def test_cancel_after_confirm_is_refused(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g9", "1", "try", ledger.bump("try"))
    await b.run("g9", "1", "confirm", ledger.bump("confirm"))
    assert (await b.run("g9", "1", "cancel", ledger.bump("cancel"))).outcome is BarrierOutcome.REFUSED
    assert await ledger.counts() == {"try": 1, "confirm": 1}


async def test_concurrent_confirm_and_cancel_apply_exactly_one(ledger: Any) -> None:
    b = ledger.barrier
    await b.run("g10", "1", "try", ledger.bump("try"))
    confirm, cancel = await asyncio.gather(
        b.run("g10", "1", "confirm", ledger.bump("confirm")), b.run("g10", "1", "cancel", ledger.bump("cancel"))
    )
    assert sorted([confirm.outcome, cancel.outcome]) == sorted([BarrierOutcome.APPLIED, BarrierOutcome.REFUSED])
    counts = await ledger.counts()
    assert counts["try"] == 1 and counts.get("confirm", 0) + counts.get("cancel", 0) == 1
