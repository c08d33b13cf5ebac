"""Fresh databases on the machine's real servers, one per test session (or per test, where asked)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pymysql

PG_HOST = os.environ.get("TXC_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TXC_TEST_PG_PORT", "5432"))
MARIADB_HOST = os.environ.get("TXC_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("TXC_TEST_MARIADB_PORT", "3306"))


async def _pg_admin() -> asyncpg.Connection:
    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=user, database="postgres")
        except Exception as exc:  # try the next superuser name
            last = exc
    raise RuntimeError(f"cannot reach PostgreSQL at {PG_HOST}:{PG_PORT} as postgres or root: {last}")


def pg_dsn(name: str) -> str:
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"


async def create_pg_database(prefix: str = "txc_test") -> str:
    """Create an empty PostgreSQL database and return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await _pg_admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return pg_dsn(name)


async def drop_pg_database(dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    conn = await _pg_admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _maria_admin(statement: str) -> None:
    """Run one statement as MariaDB's root user."""
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_mariadb_database(prefix: str = "txc_test") -> str:
    """Create an empty MariaDB database and return its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _maria_admin(f"CREATE DATABASE `{name}`")
    return name


def drop_mariadb_database(name: str) -> None:
    _maria_admin(f"DROP DATABASE IF EXISTS `{name}`")


@contextmanager
def mariadb_databases(prefix: str, count: int) -> Iterator[list[str]]:
    """``count`` fresh MariaDB databases (one per proxy backend, say), dropped when the block ends."""
    names = [create_mariadb_database(prefix) for _ in range(count)]
    try:
        yield names
    finally:
        for name in names:
            drop_mariadb_database(name)
