"""Ordinary client behaviour, each answer compared with what MariaDB itself answers for the same statements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy, direct


@pytest.fixture(scope="module")
def tables(proxy: Proxy) -> Proxy:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("DROP TABLE IF EXISTS orders")
        cur.execute("DROP TABLE IF EXISTS notes")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item_id INT)")
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(20)) DEFAULT CHARSET utf8mb4")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 10), (2, 20), (3, 30)")
    with direct(proxy.databases[0]) as d, d.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS mirror (id INT PRIMARY KEY, k INT)")
        cur.execute("DELETE FROM mirror")
        cur.execute("INSERT INTO mirror (id, k) VALUES (1, 10), (2, 20), (3, 30)")
    return proxy


def both(proxy: Proxy, run: Callable[[Any], Any], **kwargs: Any) -> tuple[Any, Any]:
    """``run(cursor)`` through the proxy and straight on MariaDB (the default backend's database)."""
    with proxy.connect(**kwargs) as conn, conn.cursor() as cur:
        via_proxy = run(cur)
    with direct(proxy.databases[0]) as conn:
        if "charset" in kwargs:
            conn.set_charset(kwargs["charset"])
        with conn.cursor() as cur:
            via_server = run(cur)
    return via_proxy, via_server


@pytest.mark.parametrize(
    "select", ["SELECT DATABASE()", "select database()", "SELECT SCHEMA()", "SELECT DATABASE() AS d, 1"]
)
def test_column_names_of_session_functions(tables: Proxy, select: str) -> None:
    def run(cur: Any) -> list[str]:
        cur.execute(select)
        cur.fetchall()
        return [d[0] for d in cur.description]

    via_proxy, via_server = both(tables, run)
    assert via_proxy == via_server


def test_autocommit_reads_back_as_set(tables: Proxy) -> None:
    def run(cur: Any) -> list[Any]:
        out = []
        for sql in ("SET autocommit=0", "SELECT @@autocommit", "SET autocommit=1", "SELECT @@session.autocommit"):
            cur.execute(sql)
            out.append(cur.fetchall())
        return out

    via_proxy, via_server = both(tables, run)
    assert via_proxy == via_server
    assert via_proxy[1] == ((0,),)


def test_set_names_and_a_latin1_client(tables: Proxy) -> None:
    def run(cur: Any) -> list[Any]:
        cur.execute("SET NAMES latin1")
        cur.execute("SELECT @@character_set_client, @@character_set_results")
        names = cur.fetchall()
        cur.execute("SELECT 'caf\u00e9', LENGTH('caf\u00e9'), CHAR_LENGTH('caf\u00e9')")
        return [names, cur.fetchall()]

    via_proxy, via_server = both(tables, run, charset="latin1")
    assert via_proxy == via_server
    assert via_proxy[0] == (("latin1", "latin1"),)
    with tables.connect(charset="latin1") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO notes (id, body) VALUES (1, 'caf\u00e9')")
        cur.execute("SELECT body FROM notes WHERE id = 1")
        assert cur.fetchall() == (("caf\u00e9",),)
    with tables.connect() as conn, conn.cursor() as cur:  # stored right: a utf8mb4 client reads the same text
        cur.execute("SELECT body, HEX(body) FROM notes WHERE id = 1")
        assert cur.fetchall() == (("caf\u00e9", "636166C3A9"),)
    assert "Traceback" not in tables.process.output()


def test_set_statement_for(tables: Proxy) -> None:
    def run(table: str) -> Callable[[Any], Any]:
        def inner(cur: Any) -> Any:
            cur.execute(f"SET STATEMENT max_statement_time=20 FOR SELECT id, k FROM {table} ORDER BY id")
            rows = cur.fetchall()
            affected = cur.execute(f"SET STATEMENT max_statement_time=20 FOR UPDATE {table} SET k = k WHERE id = 2")
            return rows, affected

        return inner

    with tables.connect() as conn, conn.cursor() as cur:
        via_proxy = run("items")(cur)
    with direct(tables.databases[0]) as conn, conn.cursor() as cur:
        via_server = run("mirror")(cur)
    assert via_proxy == via_server
    assert via_proxy[0] == ((1, 10), (2, 20), (3, 30))


def test_a_subquery_over_sharded_tables_is_refused_as_a_subquery(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("SELECT * FROM items WHERE id IN (SELECT item_id FROM orders)")
        assert info.value.args[0] == 1235
        assert "subquery" in info.value.args[1] and "join" not in info.value.args[1]
