"""Session-wide fixtures: a fresh PostgreSQL and MariaDB database per test run, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support import (
    ChildProcess,
    create_mariadb_database,
    create_pg_database,
    drop_mariadb_database,
    drop_pg_database,
)


@pytest.fixture(scope="session")
async def pg_dsn() -> AsyncIterator[str]:
    """DSN of a PostgreSQL database created for this test session."""
    dsn = await create_pg_database()
    yield dsn
    await drop_pg_database(dsn)


@pytest.fixture
async def fresh_pg_dsn() -> AsyncIterator[str]:
    """DSN of a PostgreSQL database created for one test."""
    dsn = await create_pg_database()
    yield dsn
    await drop_pg_database(dsn)


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """Name of a MariaDB database (127.0.0.1:3306, root) created for this test session."""
    name = create_mariadb_database()
    yield name
    drop_mariadb_database(name)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[ChildProcess]]:
    """Collects processes a test starts; whatever is still running at the end is SIGKILLed."""
    started: list[ChildProcess] = []
    yield started
    for proc in started:
        if proc.alive():
            proc.kill()
