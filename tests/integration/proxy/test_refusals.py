"""SQL the proxy cannot run correctly over shards is refused with 1235 naming the construct."""

from __future__ import annotations

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy


@pytest.fixture(scope="module")
def tables(proxy: Proxy) -> Proxy:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("DROP TABLE IF EXISTS orders")
        cur.execute("DROP TABLE IF EXISTS plain")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item_id INT)")
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
        cur.execute("DROP TABLE IF EXISTS people")
        cur.execute("CREATE TABLE people (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 1), (2, 2)")
    return proxy


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM items WHERE id IN (SELECT id FROM items WHERE k > 0)", "subquery"),
        ("SELECT k FROM items UNION SELECT k FROM items", "UNION"),
        ("SELECT * FROM items i JOIN people p ON p.id = i.id", "not sharded alike (items, people)"),
        ("SELECT * FROM items i JOIN orders o ON o.id = i.k", "not on their shard columns"),
        ("SELECT * FROM items a JOIN items b ON a.k = b.k", "not on their shard columns"),
        ("SELECT * FROM items i JOIN plain p ON p.id = i.id", "unsharded table plain"),
        ("SELECT k, COUNT(*) FROM items GROUP BY k HAVING COUNT(*) > 1", "HAVING"),
        ("SELECT COUNT(DISTINCT k) FROM items", "COUNT(DISTINCT"),
        ("SELECT SUM(k) + 1 FROM items", "expression over an aggregate"),
        ("SELECT GROUP_CONCAT(k) FROM items", "GROUPCONCAT"),
        ("UPDATE items SET id = 5 WHERE id = 1", "UPDATE of shard column"),
        ("INSERT INTO items (id, k) SELECT id, k FROM plain", "INSERT ... SELECT"),
        ("DELETE FROM items ORDER BY id LIMIT 1", "DELETE with ORDER BY/LIMIT"),
        ("SAVEPOINT s1", "SAVEPOINT"),
    ],
)
def test_unsupported_sql_gets_1235_naming_the_construct(tables: Proxy, sql: str, construct: str) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as err:
            cur.execute(sql)
        assert err.value.args[0] == 1235
        assert construct in err.value.args[1]


def test_same_statements_on_one_shard_are_allowed(tables: Proxy) -> None:
    """A key that pins the statement to one shard makes HAVING (a per-shard construct) exact."""
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT k, COUNT(*) FROM items WHERE id = 1 GROUP BY k HAVING COUNT(*) >= 1")
        assert cur.fetchall() == ((1, 1),)
        cur.execute("DELETE FROM items WHERE id = 2 ORDER BY id LIMIT 1")
        assert cur.rowcount == 1


def test_join_of_tables_sharded_alike_on_their_keys_is_exact(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (id, item_id) VALUES (10, 1), (11, 1), (12, 3)")
        cur.execute("INSERT INTO items (id, k) VALUES (3, 30)")
        cur.execute("SELECT i.id, COUNT(*) FROM items i JOIN orders o ON o.item_id = i.id GROUP BY i.id ORDER BY i.id")
        assert cur.fetchall() == ((1, 2), (3, 1))
