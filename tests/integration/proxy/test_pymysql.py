"""pymysql through a real dbproxy process: CRUD over shards, metadata statements, status flags, errors."""

from __future__ import annotations

from decimal import Decimal

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy, direct


@pytest.fixture(scope="module")
def items(proxy: Proxy) -> Proxy:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT NOT NULL, name VARCHAR(20))")
        cur.execute("CREATE INDEX items_k ON items (k)")
        rows = ", ".join(f"({i}, {i % 5}, 'n{i}')" for i in range(1, 21))
        cur.execute(f"INSERT INTO items (id, k, name) VALUES {rows}")
        assert cur.rowcount == 20
    return proxy


def test_multi_row_insert_is_split_per_shard(items: Proxy) -> None:
    with direct(items.databases[0]) as d0, d0.cursor() as cur:
        cur.execute("SELECT id FROM items_0 ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == list(range(2, 21, 2))
    with direct(items.databases[1]) as d1, d1.cursor() as cur:
        cur.execute("SELECT id FROM items_1 ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == list(range(1, 21, 2))


def test_point_select_and_key_lists(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, k, name FROM items WHERE id = %s", (7,))
        assert cur.fetchall() == ((7, 2, "n7"),)
        cur.execute("SELECT id FROM items WHERE id IN (3, 4, 5) ORDER BY id")
        assert cur.fetchall() == ((3,), (4,), (5,))
        cur.execute("SELECT id FROM items WHERE id BETWEEN 9 AND 11 ORDER BY id DESC")
        assert cur.fetchall() == ((11,), (10,), (9,))


def test_scatter_order_limit_and_aggregates(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM items ORDER BY id LIMIT 3 OFFSET 4")
        assert cur.fetchall() == ((5,), (6,), (7,))
        cur.execute("SELECT COUNT(*), SUM(k), MIN(id), MAX(name), AVG(k) FROM items")
        assert cur.fetchall() == ((20, Decimal(40), 1, "n9", Decimal("2.0000")),)
        cur.execute("SELECT k, COUNT(*) AS n FROM items GROUP BY k ORDER BY k DESC")
        assert cur.fetchall() == ((4, 4), (3, 4), (2, 4), (1, 4), (0, 4))
        cur.execute("SELECT DISTINCT k FROM items WHERE id > 10 ORDER BY k")
        assert cur.fetchall() == ((0,), (1,), (2,), (3,), (4,))


def test_update_delete_report_affected_rows(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        assert cur.execute("UPDATE items SET name = 'big' WHERE id >= 19") == 2
        assert cur.execute("DELETE FROM items WHERE id = 20") == 1
        cur.execute("SELECT id, name FROM items WHERE id >= 19")
        assert cur.fetchall() == ((19, "big"),)
        cur.execute("INSERT INTO items (id, k, name) VALUES (20, 0, 'n20')")


def test_show_and_describe_present_the_logical_schema(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        assert ("app",) in cur.fetchall()
        cur.execute("SHOW TABLES")
        tables = [r[0] for r in cur.fetchall()]
        assert "items" in tables and "items_0" not in tables
        cur.execute("SHOW COLUMNS FROM items")
        assert [r[0] for r in cur.fetchall()] == ["id", "k", "name"]
        cur.execute("DESCRIBE app.items")
        assert len(cur.fetchall()) == 3
        cur.execute("SELECT DATABASE()")
        assert cur.fetchall() == (("app",),)
        cur.execute("SELECT @@version_comment")
        assert cur.fetchone() is not None
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'app'")
        found = set(cur.fetchall())
        assert ("app", "items") in found  # the shard on the default backend, under its logical names
        assert not any(name.startswith("items_") for _, name in found)
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items'"
            " ORDER BY ordinal_position"
        )
        assert [r[0] for r in cur.fetchall()] == ["id", "k", "name"]


def test_alter_table_reaches_every_shard(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE items ADD COLUMN note VARCHAR(10) NULL")
        cur.execute("UPDATE items SET note = 'x' WHERE id IN (1, 2)")
        cur.execute("SELECT id, note FROM items WHERE note IS NOT NULL ORDER BY id")
        assert cur.fetchall() == ((1, "x"), (2, "x"))
        cur.execute("ALTER TABLE items DROP COLUMN note")
    for database, table in zip(items.databases, ("items_0", "items_1"), strict=True):
        with direct(database) as d, d.cursor() as cur:
            cur.execute(f"SHOW COLUMNS FROM {table}")
            assert [r[0] for r in cur.fetchall()] == ["id", "k", "name"]


def test_generated_keys_land_on_the_right_shard(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items (k, name) VALUES (1, 'auto1'), (2, 'auto2')")
        first = cur.lastrowid
        assert first > 20
        cur.execute("SELECT LAST_INSERT_ID()")
        assert cur.fetchone() == (first,)
        cur.execute("SELECT id FROM items WHERE id = %s", (first + 1,))
        assert cur.fetchall() == ((first + 1,),)
        cur.execute("DELETE FROM items WHERE name LIKE 'auto%%'")


def test_status_flags_follow_autocommit_and_transactions(items: Proxy) -> None:
    with items.connect(autocommit=False) as conn:
        # pymysql reads SERVER_STATUS_AUTOCOMMIT from the OK packets
        assert conn.get_autocommit() is False
        with conn.cursor() as cur:
            cur.execute("UPDATE items SET name = 'tx' WHERE id = 1")
            assert conn.server_status & 0x0001  # in transaction
            conn.rollback()
            assert not conn.server_status & 0x0001
            cur.execute("SELECT name FROM items WHERE id = 1")
            assert cur.fetchone() == ("n1",)
        conn.autocommit(True)
        assert conn.server_status & 0x0002


def test_multi_shard_transaction_commits_and_rolls_back(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        conn.begin()
        cur.execute("UPDATE items SET name = 'tx1' WHERE id IN (1, 2)")
        conn.rollback()
        cur.execute("SELECT COUNT(*) FROM items WHERE name = 'tx1'")
        assert cur.fetchone() == (0,)
        conn.begin()
        cur.execute("UPDATE items SET name = 'tx2' WHERE id IN (1, 2)")
        with items.connect() as other, other.cursor() as ocur:
            ocur.execute("SELECT COUNT(*) FROM items WHERE name = 'tx2'")
            assert ocur.fetchone() == (0,)  # not visible before COMMIT
        conn.commit()
        cur.execute("SELECT COUNT(*) FROM items WHERE name = 'tx2'")
        assert cur.fetchone() == (2,)
        cur.execute("UPDATE items SET name = CONCAT('n', id) WHERE id IN (1, 2)")


def test_broadcast_table_is_written_everywhere(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS settings")
        cur.execute("CREATE TABLE settings (name VARCHAR(20) PRIMARY KEY, value INT)")
        assert cur.execute("INSERT INTO settings VALUES ('a', 1), ('b', 2)") == 2
        cur.execute(
            "SELECT i.id, s.value FROM items i JOIN settings s ON s.value = i.k WHERE i.id IN (1, 2) ORDER BY i.id"
        )
        assert cur.fetchall() == ((1, 1), (2, 2))
    for database in items.databases:
        with direct(database) as d, d.cursor() as cur:
            cur.execute("SELECT name, value FROM settings ORDER BY name")
            assert cur.fetchall() == (("a", 1), ("b", 2))


def test_range_sharding_routes_by_boundaries(items: Proxy) -> None:
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS people")
        cur.execute("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(10))")
        cur.execute("INSERT INTO people (id, name) VALUES (5, 'lo'), (99, 'lo'), (100, 'hi'), (250, 'hi')")
        cur.execute("SELECT id FROM people WHERE id >= 99 ORDER BY id")
        assert cur.fetchall() == ((99,), (100,), (250,))
    with direct(items.databases[1]) as d, d.cursor() as cur:
        cur.execute("SELECT id FROM people_hi ORDER BY id")
        assert cur.fetchall() == ((100,), (250,))


def test_wrong_password_gets_1045(proxy: Proxy) -> None:
    with pytest.raises(pymysql.err.OperationalError) as err:
        proxy.connect(password="not-the-password")
    assert err.value.args[0] == 1045


def test_unknown_database_gets_1049(proxy: Proxy) -> None:
    with pytest.raises(pymysql.err.OperationalError) as err:
        proxy.connect(database="nope")
    assert err.value.args[0] == 1049


def test_session_statements_ping_and_init_db(items: Proxy) -> None:
    with items.connect(database=None) as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as err:
            cur.execute("SELECT * FROM items")
        assert err.value.args[0] == 1046  # no database selected
        conn.select_db("app")  # COM_INIT_DB
        cur.execute("SELECT COUNT(*) FROM items WHERE id <= 3")
        assert cur.fetchone() == (3,)
        cur.execute("USE app")
        conn.ping(reconnect=False)  # COM_PING
        cur.execute("SET @answer = 42, SESSION sql_mode = 'ANSI_QUOTES'")
        cur.execute("SELECT @answer")  # replayed on whichever backend connection serves the session
        assert cur.fetchone() == (42,)
        cur.execute('SELECT "name" FROM items WHERE id = 1')  # ANSI_QUOTES: a quoted identifier
        assert cur.fetchone() == ("n1",)
        cur.execute("SET NAMES utf8mb4")
        cur.execute("SELECT name FROM items WHERE id = 2")
        assert cur.fetchone() == ("n2",)
    with items.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @answer")  # session state never leaks into another client's session
        assert cur.fetchone() == (None,)


def test_autocommit_off_keeps_multi_shard_writes_open_until_commit(items: Proxy) -> None:
    with items.connect(autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("UPDATE items SET name = 'pending' WHERE id IN (3, 4)")  # two shards
        with items.connect() as other, other.cursor() as ocur:
            ocur.execute("SELECT COUNT(*) FROM items WHERE name = 'pending'")
            assert ocur.fetchone() == (0,)
        conn.rollback()
        cur.execute("SELECT COUNT(*) FROM items WHERE name = 'pending'")
        assert cur.fetchone() == (0,)
