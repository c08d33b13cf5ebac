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
            conn.set_character_set(kwargs["charset"])
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
        for sql in (
            "SET autocommit=0",
            "SELECT @@autocommit",
            "SET autocommit=1",
            "SELECT @@session.autocommit",
            "SET wait_timeout=77",
            "SELECT @@wait_timeout",
            "SELECT @@session.wait_timeout",
        ):
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
            inserted = cur.execute(
                f"SET STATEMENT max_statement_time=20 FOR INSERT INTO {table} (id, k) VALUES (7, 70)"
            )
            cur.execute(f"DELETE FROM {table} WHERE id = 7")
            return rows, affected, inserted

        return inner

    with tables.connect() as conn, conn.cursor() as cur:
        via_proxy = run("items")(cur)
    with direct(tables.databases[0]) as conn, conn.cursor() as cur:
        via_server = run("mirror")(cur)
    assert via_proxy == via_server
    assert via_proxy[0] == ((1, 10), (2, 20), (3, 30)) and via_proxy[2] == 1


def test_a_subquery_over_sharded_tables_is_refused_as_a_subquery(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("SELECT * FROM items WHERE id IN (SELECT item_id FROM orders)")
        assert info.value.args[0] == 1235
        assert "subquery" in info.value.args[1] and "join" not in info.value.args[1]


def _all_results(cur: Any, sql: str) -> list[Any]:
    out = []
    try:
        cur.execute(sql)
        while True:
            out.append((cur.rowcount, cur.fetchall()))
            if not cur.nextset():
                break
    except pymysql.err.MySQLError as exc:
        out.append(("error", exc.args[0]))
    return out


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1; SELECT 2",
        "SELECT 'a;b' AS s; SELECT 2 -- ;\n",
        "BEGIN; UPDATE {t} SET k = k + 1 WHERE id = 1; SELECT k FROM {t} WHERE id = 1; ROLLBACK;"
        " SELECT k FROM {t} WHERE id = 1",
        "SET autocommit=0; SELECT @@autocommit; SET autocommit=1",
        "SELECT 1; SELECT * FROM no_such_table; SELECT 3",
    ],
)
def test_multi_statements(tables: Proxy, text: str) -> None:
    flag = pymysql.constants.CLIENT.MULTI_STATEMENTS
    with tables.connect(client_flag=flag) as conn, conn.cursor() as cur:
        via_proxy = _all_results(cur, text.format(t="items"))
        cur.execute("SELECT k FROM items WHERE id = 1")  # the session is not wedged
        assert cur.fetchall() == ((10,),)
    conn = pymysql.connect(
        host="127.0.0.1", user="root", password="", database=tables.databases[0], autocommit=True, client_flag=flag
    )
    with conn, conn.cursor() as cur:
        via_server = _all_results(cur, text.format(t="mirror"))
    assert via_proxy == via_server
    assert len(via_proxy) >= 2


@pytest.mark.parametrize(
    ("via_proxy_sql", "direct_sql"),
    [
        ("SHOW CREATE TABLE items", "SHOW CREATE TABLE items_0"),
        ("SHOW INDEX FROM items", "SHOW INDEX FROM items_0"),
        ("SHOW COLUMNS FROM items", "SHOW COLUMNS FROM items_0"),
        ("SHOW TABLE STATUS LIKE 'items'", "SHOW TABLE STATUS LIKE 'items_0'"),
    ],
)
def test_show_statements_name_logical_tables(tables: Proxy, via_proxy_sql: str, direct_sql: str) -> None:
    def shape(rows: Any) -> list[list[Any]]:
        # what differs between two calls on their own: the physical name (mapped) and the table's timestamps
        out = []
        for row in rows:
            out.append([v.replace("items_0", "items") if isinstance(v, str) else v for v in row])
        return out

    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute(via_proxy_sql)
        via_proxy = cur.fetchall()
    with direct(tables.databases[0]) as conn, conn.cursor() as cur:
        cur.execute(direct_sql)
        via_server = cur.fetchall()
    assert via_proxy and "items_0" not in repr(via_proxy)
    if "STATUS" in via_proxy_sql:
        assert [r[0] for r in via_proxy] == ["items"]
        assert [list(r[1:4]) for r in via_proxy] == [r[1:4] for r in shape(via_server)]
    else:
        assert [list(r) for r in via_proxy] == shape(via_server)


def test_no_backslash_escapes_reaches_the_client(tables: Proxy) -> None:
    def run(cur: Any) -> list[Any]:
        conn = cur.connection
        out = [bool(conn.server_status & 0x200)]
        cur.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
        out.append(bool(conn.server_status & 0x200))
        # pymysql escapes by the flag: with it, a backslash is an ordinary character
        cur.execute("SELECT %s, LENGTH(%s)", ("a\\'b", "a\\'b"))
        out.append(cur.fetchall())
        out.append(bool(conn.server_status & 0x200))
        cur.execute("SET sql_mode = DEFAULT")
        out.append(bool(conn.server_status & 0x200))
        return out

    via_proxy, via_server = both(tables, run)
    assert via_proxy == via_server
    assert via_proxy[1] is True and via_proxy[-1] is False


@pytest.mark.parametrize(
    ("statement", "nodes"),
    [
        ("SELECT * FROM items WHERE id = 3", [1]),
        ("SELECT * FROM items WHERE id = 2", [0]),
        ("SELECT * FROM items", [0, 1]),
        ("UPDATE items SET k = 1 WHERE id = 3", [1]),
    ],
)
def test_explain_is_routed_like_the_statement(tables: Proxy, statement: str, nodes: list[int]) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN " + statement)
        via_proxy = cur.fetchall()
        assert cur.description[0][0] == "node"
    assert [r[0] for r in via_proxy] == [f"ds{n} (node {n})" for n in nodes]
    for n in nodes:  # each labelled plan is what that shard's server says of its part
        with direct(tables.databases[n]) as conn, conn.cursor() as cur:
            cur.execute("EXPLAIN " + statement.replace("items", f"items_{n}"))
            via_server = cur.fetchall()
        mine = [tuple(r[1:]) for r in via_proxy if r[0] == f"ds{n} (node {n})"]
        # id, select_type, table (rows are estimates); the shard's table under its logical name
        logical = [(r[0], r[1], "items" if r[2] == f"items_{n}" else r[2]) for r in via_server]
        assert [r[:3] for r in mine] == logical
