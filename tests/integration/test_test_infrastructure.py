"""The shared fixtures give each test run its own, real databases."""

from __future__ import annotations

import asyncpg
import pymysql

from tests.support.databases import MARIADB_HOST, MARIADB_PORT


async def test_session_postgresql_database_is_fresh_and_writable(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == pg_dsn.rsplit("/", 1)[1]
        await conn.execute("CREATE TEMP TABLE probe (x int)")
    finally:
        await conn.close()


def test_session_mariadb_database_is_fresh_and_writable(mariadb_database: str) -> None:
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", database=mariadb_database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == (mariadb_database,)
            cur.execute("CREATE TABLE probe (x INT)")
            cur.execute("DROP TABLE probe")
    finally:
        conn.close()
