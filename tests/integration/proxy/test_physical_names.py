"""Physical names and the backend account never reach a client: USER() and friends answer the proxy user,
DATABASE() and CONNECTION_ID() the session's logical view even among other columns, and column metadata,
error texts, EXPLAIN, the process list, SHOW OPEN TABLES and table maintenance answers name logical databases and
tables."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest

from tests.integration.proxy.conftest import (
    LOGICAL_DB,
    PASSWORD,
    USER,
    Proxy,
    direct,
    mod_table,
    proxy_config,
    start_proxy,
)
from tests.integration.proxy.rawclient import RawClient, frame
from tests.support import free_port, mariadb_databases


@pytest.fixture(scope="module")
def tables(proxy: Proxy) -> Iterator[Proxy]:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 10), (2, 20)")
        cur.execute("CREATE TABLE IF NOT EXISTS plain (id INT PRIMARY KEY)")
    yield proxy


def physical(proxy: Proxy) -> list[str]:
    return [*proxy.databases, "items_0", "items_1"]


def test_user_functions_answer_the_proxy_user_never_the_backend_account(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT USER(), CURRENT_USER(), SESSION_USER(), SYSTEM_USER()")
        assert cur.fetchall() == ((f"{USER}@127.0.0.1", f"{USER}@%", f"{USER}@127.0.0.1", f"{USER}@127.0.0.1"),)
        cur.execute("SELECT CONCAT(USER(), '!') AS u, 1")
        assert cur.fetchall() == ((f"{USER}@127.0.0.1!", 1),)
        cur.execute("SELECT id, CURRENT_USER FROM items WHERE id = 1")
        assert cur.fetchall() == ((1, f"{USER}@%"),)


def test_database_and_connection_id_among_other_columns_are_the_sessions(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        ((mine,),) = cur.fetchall()
        cur.execute("SELECT DATABASE(), 1")
        assert cur.fetchall() == ((LOGICAL_DB, 1),)
        assert cur.description[0][0] == "DATABASE()"  # the column keeps the name the client wrote
        cur.execute("SELECT CONNECTION_ID(), id FROM plain UNION ALL SELECT CONNECTION_ID(), 0")
        assert cur.fetchall() == ((mine, 0),)
        cur.execute("SELECT id, SCHEMA() AS s FROM items ORDER BY id")
        assert cur.fetchall() == ((1, LOGICAL_DB), (2, LOGICAL_DB))


def test_column_metadata_names_the_logical_database_and_tables(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        for sql in (
            "SELECT id, k FROM items WHERE id = 1",  # relayed from one shard
            "SELECT id, k FROM items ORDER BY id",  # merged from both
            "SELECT id, k FROM items",  # concatenated
            "SELECT id FROM plain",
        ):
            cur.execute(sql)
            fields = cur._result.fields  # type: ignore[union-attr]
            assert {_text(f.db) for f in fields} == {LOGICAL_DB}, sql
            assert {_text(f.org_table) for f in fields} <= {"items", "plain"}, sql
            assert {_text(f.table_name) for f in fields} <= {"items", "plain"}, sql


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_error_texts_name_the_logical_database(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.ProgrammingError) as info:
            cur.execute("SELECT * FROM no_such_table")
        message = str(info.value.args[1])
        assert f"'{LOGICAL_DB}.no_such_table'" in message
        assert not any(name in message for name in physical(tables))


def test_show_open_tables_lists_only_the_logical_database(tables: Proxy) -> None:
    with direct(tables.databases[0]) as d, d.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM mysql.user")  # another database's table is open in the server now
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM plain")
        cur.execute("SHOW OPEN TABLES")
        rows = cur.fetchall()
        assert rows, "the logical database's open tables are listed"
        assert {r[0] for r in rows} == {LOGICAL_DB}
        assert not {r[1] for r in rows} & set(physical(tables))


def test_table_maintenance_answers_name_logical_tables(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("ANALYZE TABLE plain")
        assert [r[0] for r in cur.fetchall()] == [f"{LOGICAL_DB}.plain"]
        cur.execute("CHECK TABLE plain")
        assert [r[0] for r in cur.fetchall()] == [f"{LOGICAL_DB}.plain"]


def test_the_process_list_shows_the_proxy_user_and_the_logical_database(tables: Proxy) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW FULL PROCESSLIST")
        rows = cur.fetchall()
        mine = {row[0]: row for row in rows}[conn.thread_id()]
        assert (mine[1], mine[3]) == (USER, LOGICAL_DB)
        text = repr(rows)
        assert not [name for name in [*physical(tables), "root"] if name in text], text
        try:
            cur.execute("SELECT ID, USER, DB, INFO FROM information_schema.PROCESSLIST")
        except pymysql.err.MySQLError as exc:  # refusing is fine; answering with the backends' sessions is not
            assert exc.args[0] in (1044, 1142, 1235), exc.args
        else:
            rows = cur.fetchall()
            text = repr(rows)
            assert not [name for name in [*physical(tables), "root"] if name in text], text


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN SELECT id, k FROM items WHERE k > 0",  # every shard's plan
        "EXPLAIN SELECT id, k FROM items WHERE id = 1",  # one shard's
        "EXPLAIN FORMAT=JSON SELECT id, k FROM items WHERE k > 0",
        "EXPLAIN FORMAT=JSON SELECT items.id FROM items WHERE items.k > 0",
        "EXPLAIN EXTENDED SELECT i.id, i.k FROM items i WHERE i.k > 0",
        "DESCRIBE SELECT id FROM items WHERE k > 0",
    ],
)
def test_explain_names_the_logical_tables(tables: Proxy, sql: str) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    assert rows
    text = repr(rows)
    assert not [name for name in physical(tables) if name in text], text
    if "JSON" in sql:
        assert '"table_name": "items"' in text
    elif " i " not in sql:
        assert "items" in {row[3] for row in rows}  # node, id, select_type, table


@pytest.fixture(scope="module")
def two_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, list[str]]]:
    """A proxy whose user may use two logical databases: LOGICAL_DB (items sharded) and `other` (things
    sharded over two more backends, plainx on its default one)."""
    with mariadb_databases("txc_names", 4) as dbs:
        port = free_port()
        config = proxy_config(port, {"ds0": dbs[0], "ds1": dbs[1]}, {"items": mod_table("id", 2, "items")})
        config["backends"].update({f"ds{i}": f"mysql://root:@127.0.0.1:3306/{dbs[i]}" for i in (2, 3)})
        things = {"column": "id", "algorithm": "mod", "nodes": ["ds2.things_0", "ds3.things_1"]}
        config["databases"]["other"] = {"default_backend": "ds2", "sharded_tables": {"things": things}}
        proc = start_proxy(config, tmp_path_factory.mktemp("names"))
        proxy = Proxy(port, dbs, proc, config)
        try:
            with proxy.connect(database="other") as conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE things (id INT PRIMARY KEY, v INT)")
                cur.execute("CREATE TABLE plainx (id INT PRIMARY KEY)")
                cur.execute("INSERT INTO things (id, v) VALUES (1, 1), (2, 2)")
            yield proxy, [*dbs, "things_0", "things_1"]
        finally:
            proc.kill()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, v FROM other.things WHERE id = 1",  # relayed from one shard
        "SELECT id, v FROM other.things ORDER BY id",  # merged
        "SELECT id, v FROM other.things",  # concatenated
        "SELECT id FROM other.plainx",
        "EXPLAIN SELECT id, v FROM other.things",
    ],
)
def test_a_statement_on_another_logical_database_shows_its_logical_names(
    two_databases: tuple[Proxy, list[str]], sql: str
) -> None:
    proxy, hidden = two_databases
    with proxy.connect() as conn, conn.cursor() as cur:  # the session's database is LOGICAL_DB
        cur.execute(sql)
        rows = cur.fetchall()
        fields = [(f.db, f.table_name, f.org_table) for f in cur._result.fields]  # type: ignore[union-attr]
    text = repr((rows, fields))
    assert not [name for name in hidden if name in text], text
    if not sql.startswith("EXPLAIN"):
        assert {f[0] for f in fields} == {b"other"}
        assert {f[1] for f in fields} == {"plainx" if "plainx" in sql else "things"}


@pytest.mark.parametrize("sql", ["SELECT * FROM other.missing", "SELECT things.nope FROM other.things WHERE id = 1"])
def test_an_error_on_another_logical_database_names_it_logically(
    two_databases: tuple[Proxy, list[str]], sql: str
) -> None:
    proxy, hidden = two_databases
    with proxy.connect() as conn, conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as info:
        cur.execute(sql)
    message = str(info.value.args[1])
    assert not [name for name in hidden if name in message], message
    assert "other.missing" in message or "things.nope" in message, message


def test_a_prepared_statement_on_another_logical_database_describes_its_logical_names(
    two_databases: tuple[Proxy, list[str]],
) -> None:
    proxy, hidden = two_databases
    client = RawClient(proxy.port)
    try:
        assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
        client.send_raw(frame(b"\x16SELECT id, v FROM other.things WHERE id = ?", 0))
        packets = [client.read_packet()[1] for _ in range(6)]  # OK, one parameter + EOF, two columns + EOF
    finally:
        client.close()
    assert packets[0][:1] == b"\x00", packets[0]
    described = b"".join(packets)
    assert not [name for name in hidden if name.encode() in described], described
    assert b"\x05other\x06things" in packets[3]  # the first column's schema and table


@pytest.mark.parametrize(
    ("sql", "column", "expected"),
    [
        (f"SHOW COLUMNS FROM items FROM {LOGICAL_DB}", 0, {"id", "k"}),
        (f"SHOW INDEX FROM items IN {LOGICAL_DB}", 0, {"items"}),
        (f"SHOW FULL COLUMNS FROM items FROM {LOGICAL_DB} LIKE 'k'", 0, {"k"}),
    ],
)
def test_show_about_a_sharded_table_from_the_logical_database(
    tables: Proxy, sql: str, column: int, expected: set[str]
) -> None:
    with tables.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)  # was 1146: the logical database's name was sent to the shard's server as written
        rows = cur.fetchall()
    assert {row[column] for row in rows} == expected
    assert not [name for name in physical(tables) if name in repr(rows)], rows


def test_an_error_ending_a_streamed_scatter_names_logical_names(two_databases: tuple[Proxy, list[str]]) -> None:
    """The first shard's rows reach the client before the second shard's error: that error is translated too."""
    proxy, hidden = two_databases
    shard = proxy.databases[3]  # ds3 holds things_1
    with direct(shard) as conn, conn.cursor() as cur:
        cur.execute("RENAME TABLE things_1 TO things_1_away")
    try:
        with proxy.connect() as conn, conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("SELECT id, v FROM other.things")  # every shard's rows in turn, streamed
    finally:
        with direct(shard) as conn, conn.cursor() as cur:
            cur.execute("RENAME TABLE things_1_away TO things_1")
    message = str(info.value.args[1])
    assert info.value.args[0] == 1146, message
    assert not [name for name in hidden if name in message], message
    assert "other.things" in message, message
