"""The coordinator store's alembic migrations on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from txcoord.errors import SchemaOutOfDate
from txcoord.store.migrations import check_schema, current_revisions, head_revisions, upgrade
from txcoord.tcc.store import PgStore

NewDb = Callable[..., Awaitable[str]]
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"


async def test_upgrade_builds_the_schema_and_is_idempotent_and_reversible(new_db: NewDb) -> None:
    dsn = await new_db()
    await asyncio.to_thread(upgrade, dsn)
    await asyncio.to_thread(upgrade, dsn)  # nothing left to do: no error, no change
    conn = await asyncpg.connect(dsn)
    try:
        assert await current_revisions(conn) == head_revisions()
        tables = {r["tablename"] for r in await conn.fetch(TABLES)}
        assert {"txc_transaction", "txc_branch", "txc_event", "alembic_version"} <= tables
        await check_schema(conn, dsn)
        await asyncio.to_thread(upgrade, dsn, "0001_coordinator_log")  # no-op: already past it
        from alembic import command

        from txcoord.store.migrations import alembic_config

        await asyncio.to_thread(command.downgrade, alembic_config(dsn), "base")
        assert {r["tablename"] for r in await conn.fetch(TABLES)} == {"alembic_version"}
        with pytest.raises(SchemaOutOfDate, match="txc db upgrade --store"):
            await check_schema(conn, dsn)
        await asyncio.to_thread(upgrade, dsn)
        await check_schema(conn, dsn)
    finally:
        await conn.close()


async def test_the_store_refuses_a_database_behind_the_migrations(new_db: NewDb) -> None:
    with pytest.raises(SchemaOutOfDate, match="no txcoord schema"):
        await PgStore.connect(await new_db())


async def test_register_branch_is_write_ahead_and_idempotent(store: str) -> None:
    from txcoord.tcc.model import Phase2

    pg = await PgStore.connect(store)
    try:
        assert await pg.register_branch("g1", 30, "1", "bank", "debit", '{"a": 1}') == ("BEGIN", '{"a": 1}')
        assert await pg.register_branch("g1", 30, "1", "bank", "debit", '{"a":1}') == ("BEGIN", '{"a": 1}')  # retry
        # a branch never changes: each differing field is named, and the first registration stays
        assert await pg.register_branch("g1", 30, "1", "bank", "debit", '{"a": 1.0}') == ("DIFFERS", "payload")
        assert await pg.register_branch("g1", 30, "1", "bank-b", "debit", '{"a": 1}') == ("DIFFERS", "service")
        assert await pg.register_branch("g1", 30, "1", "bank", "credit", '{"a": 1}') == ("DIFFERS", "action")
        assert await pg.register_branch("g1", 30, "1", "bank", "debit", '{"a": 1}', "XA") == ("DIFFERS", "kind")
        tx = await pg.get("g1")
        assert tx is not None and [b.branch_id for b in tx.branches] == ["1"]
        decided = await pg.decide("g1", Phase2.CONFIRM, "commit", "me", 10)
        assert decided is not None and decided.op is Phase2.CONFIRM
        assert [b.payload for b in decided.branches] == [{"a": 1}]
        assert await pg.decide("g1", Phase2.CANCEL, "late", "me", 10) is None  # decided once
        assert await pg.register_branch("g1", 30, "2", "bank", "debit", "{}") == ("COMMITTING", None)
    finally:
        await pg.close()
