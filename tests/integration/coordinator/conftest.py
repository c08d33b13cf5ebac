"""Databases for the coordinator tests: a migrated template copied per test (fast), and bank databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.integration.coordinator.cluster import Cluster
from tests.support import ChildProcess, create_pg_database, drop_pg_database
from tests.support.databases import PG_HOST, PG_PORT, pg_dsn
from txcoord.store.migrations import upgrade


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")


@pytest.fixture(scope="session")
async def store_template() -> AsyncIterator[str]:
    """A database migrated to head once per session; tests get copies of it."""
    dsn = await create_pg_database("txc_tmpl")
    await asyncio.to_thread(upgrade, dsn)
    yield dsn.rsplit("/", 1)[1]
    await drop_pg_database(dsn)


@pytest.fixture
async def new_db() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``await new_db()`` an empty database, ``await new_db(template=name)`` a copy; all dropped after."""
    made: list[str] = []

    async def make(template: str | None = None) -> str:
        name = f"txc_test_{uuid.uuid4().hex[:10]}"
        conn = await _admin()
        try:
            suffix = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        finally:
            await conn.close()
        made.append(name)
        return pg_dsn(name)

    yield make
    for name in made:
        await drop_pg_database(pg_dsn(name))


@pytest.fixture
async def store(new_db: Callable[..., Awaitable[str]], store_template: str) -> str:
    """A coordinator store at the current schema, fresh for this test."""
    return await new_db(template=store_template)


@pytest.fixture
def cluster(tmp_path: Path, processes: list[ChildProcess], store: str) -> Cluster:
    return Cluster(tmp_path, processes, store)
