"""A proxy user reaches only its logical databases: each escalation an attacker tried is refused with MySQL's
own error, the same kind of statement on the user's own database still works, and a read-only user cannot
write. The backend account here is root on purpose: the proxy alone must confine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy, mod_table, proxy_config, start_proxy
from tests.support import create_mariadb_database, drop_mariadb_database, free_port


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, str]]:
    """A proxy over two shard databases, plus an `other` physical database no config names."""
    shards = [create_mariadb_database("txc_conf") for _ in range(2)]
    other = create_mariadb_database("txc_other")
    with pymysql.connect(host="127.0.0.1", user="root", password="", database=other, autocommit=True) as c:
        c.cursor().execute("CREATE TABLE secret (v VARCHAR(20))")
        c.cursor().execute("INSERT INTO secret VALUES ('do-not-leak')")
    port = free_port()
    config: dict[str, Any] = proxy_config(
        port, {"ds0": shards[0], "ds1": shards[1]}, {"items": mod_table("id", 2, "items")}
    )
    config["users"] = {
        USER: PASSWORD,
        "reader": {"password": "r", "databases": {LOGICAL_DB: "read_only"}},
        "stranger": {"password": "s", "databases": {}},
    }
    proc = start_proxy(config, tmp_path_factory.mktemp("confined"))
    proxy = Proxy(port, shards, proc, config)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("DROP TABLE IF EXISTS plain")
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 1), (2, 2)")
    yield proxy, other
    proc.kill()
    for name in [*shards, other]:
        drop_mariadb_database(name)


def refused(proxy: Proxy, sql: str, **kwargs: Any) -> tuple[int, str]:
    with proxy.connect(**kwargs) as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute(sql)
        code, message = info.value.args[0], str(info.value.args[1])
        assert "Traceback" not in message and "Error:" not in message
        cur.execute("SELECT 1")  # the session is still usable after the refusal
        assert cur.fetchall() == ((1,),)
        return code, message


@pytest.mark.parametrize(
    ("sql", "code", "named"),
    [
        ("SELECT User, Password FROM mysql.user", 1142, "`mysql`.`user`"),
        ("SELECT * FROM {other}.secret", 1044, "'{other}'"),
        ("CREATE TABLE {other}.x (id INT)", 1044, "'{other}'"),
        ("INSERT INTO {other}.secret VALUES ('x')", 1044, "'{other}'"),
        ("SELECT * FROM items JOIN {other}.secret", 1044, "'{other}'"),
        ("SELECT LOAD_FILE('/etc/passwd')", 1227, "FILE"),
        ("SELECT * FROM items INTO OUTFILE '/tmp/txc_leak'", 1227, "INTO OUTFILE"),
        ("CREATE USER evil IDENTIFIED BY 'x'", 1227, "CREATE USER"),
        ("GRANT ALL ON *.* TO app", 1227, "GRANT"),
        ("SET GLOBAL max_connections = 1", 1227, "SET GLOBAL"),
        ("SET @@global.max_connections = 1", 1227, "SET GLOBAL"),
        ("SET @x = (SELECT Password FROM mysql.user LIMIT 1)", 1235, "subquery in SET"),
        ("SET sql_log_bin = 0", 1227, "sql_log_bin"),
        ("SHUTDOWN", 1227, "SHUTDOWN"),
        ("INSTALL PLUGIN x SONAME 'ha_x.so'", 1227, "INSTALL PLUGIN"),
        ("HANDLER items OPEN", 1235, "HANDLER"),
        ("LOAD DATA INFILE '/etc/passwd' INTO TABLE plain", 1227, "FILE"),
        ("SHOW TABLES FROM mysql", 1044, "'mysql'"),
        ("SHOW CREATE TABLE mysql.user", 1142, "`mysql`"),
        ("DESCRIBE {other}.secret", 1044, "'{other}'"),
        ("SHOW GRANTS FOR root", 1044, "'mysql'"),
        ("SELECT * FROM performance_schema.threads", 1142, "`performance_schema`.`threads`"),
        ("SELECT * FROM information_schema.PROCESSLIST", 1142, "`information_schema`.`PROCESSLIST`"),
        ("SELECT * FROM information_schema.USER_PRIVILEGES", 1142, "USER_PRIVILEGES"),
        ("BEGIN NOT ATOMIC SELECT * FROM mysql.user; END", 1235, "BEGIN NOT ATOMIC"),
        ("PREPARE s FROM 'SELECT * FROM mysql.user'", 1235, "PREPARE"),
        ("CALL mysql.AddGeometryColumn('a', 'b', 'c', 'd', 1)", 1142, "`mysql`"),
        ("LOCK TABLES mysql.user READ", 1235, "LOCK TABLES"),
        ("RENAME TABLE plain TO {other}.stolen", 1044, "'{other}'"),
        ("REPLACE INTO {other}.secret VALUES ('x')", 1044, "'{other}'"),
        ("FLUSH PRIVILEGES", 1227, "RELOAD"),
        ("SET STATEMENT max_statement_time=1 FOR SELECT * FROM {other}.secret", 1044, "'{other}'"),
        ("USE {other}", 1049, "'{other}'"),
    ],
)
def test_escalation_is_refused_with_mysqls_error(confined: tuple[Proxy, str], sql: str, code: int, named: str) -> None:
    proxy, other = confined
    got_code, message = refused(proxy, sql.format(other=other))
    assert got_code == code, message
    assert named.format(other=other) in message
    if code in (1044, 1142):
        assert f"'{USER}'@'127.0.0.1'" in message


def test_the_other_database_was_not_touched(confined: tuple[Proxy, str]) -> None:
    _, other = confined
    with pymysql.connect(host="127.0.0.1", user="root", password="", database=other) as c, c.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == (("secret",),)
        cur.execute("SELECT v FROM secret")
        assert cur.fetchall() == (("do-not-leak",),)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT k FROM app.items WHERE id = 2", ((2,),)),
        ("SELECT COUNT(*) FROM app.plain", ((0,),)),
        ("SELECT LOAD_FILE_NOT(1) IS NULL", None),  # not a file function: only parsing, the backend refuses it
    ],
)
def test_the_same_statements_work_on_the_users_own_database(
    confined: tuple[Proxy, str], sql: str, expected: Any
) -> None:
    proxy, _ = confined
    with proxy.connect() as conn, conn.cursor() as cur:
        if expected is None:
            with pytest.raises(pymysql.err.MySQLError) as info:
                cur.execute(sql)
            assert info.value.args[0] == 1305  # FUNCTION does not exist: the backend's answer, not a refusal
            return
        cur.execute(sql)
        assert cur.fetchall() == expected


def test_ddl_and_writes_on_the_own_database_work(confined: tuple[Proxy, str]) -> None:
    proxy, _ = confined
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE app.scratch (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO app.scratch VALUES (1)")
        cur.execute("SET STATEMENT max_statement_time=5 FOR SELECT id FROM scratch")
        assert cur.fetchall() == ((1,),)
        cur.execute("DROP TABLE app.scratch")
        cur.execute("SHOW TABLES FROM app")
        assert {r[0] for r in cur.fetchall()} == {"items", "plain"}


def test_information_schema_shows_only_the_logical_database(confined: tuple[Proxy, str]) -> None:
    proxy, other = confined
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        assert cur.fetchall() == ((LOGICAL_DB,),)
        cur.execute("SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES ORDER BY 1")
        names = [r[0] for r in cur.fetchall()]
        assert names and all(not n.startswith(other) and "mysql." not in n for n in names), names
        cur.execute("SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = 'app' ORDER BY 1")
        assert [r[0] for r in cur.fetchall()] == ["items", "plain"]
        cur.execute("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_NAME = 'secret'")
        assert cur.fetchall() == ((0,),)
        cur.execute("SHOW DATABASES")
        assert [r[0] for r in cur.fetchall()] == ["information_schema", LOGICAL_DB]


def test_kill_and_processlist_are_limited_to_the_users_own_sessions(confined: tuple[Proxy, str]) -> None:
    proxy, _ = confined
    with (
        proxy.connect() as a,
        proxy.connect() as b,
        proxy.connect(user="reader", password="r") as r,
        a.cursor() as acur,
        b.cursor() as bcur,
        r.cursor() as rcur,
    ):
        acur.execute("SELECT CONNECTION_ID()")
        (a_id,) = acur.fetchone()
        bcur.execute("SELECT CONNECTION_ID()")
        (b_id,) = bcur.fetchone()
        rcur.execute("SELECT CONNECTION_ID()")
        (r_id,) = rcur.fetchone()
        assert len({a_id, b_id, r_id}) == 3
        acur.execute("SHOW PROCESSLIST")
        rows = acur.fetchall()
        assert {row[0] for row in rows} == {a_id, b_id}  # not the reader's, not the backend's
        assert all(row[1] == USER for row in rows)
        with pytest.raises(pymysql.err.MySQLError) as info:
            acur.execute(f"KILL {r_id}")
        assert info.value.args[0] == 1095
        with pymysql.connect(host="127.0.0.1", user="root", password="") as d, d.cursor() as dcur:
            dcur.execute("SELECT CONNECTION_ID()")
            (server_thread,) = dcur.fetchone()
            with pytest.raises(pymysql.err.MySQLError) as info:
                acur.execute(f"KILL {server_thread + 100000}")
            assert info.value.args[0] == 1094
            dcur.execute("SELECT 1")  # the server session is alive
        acur.execute(f"KILL QUERY {b_id}")  # b is idle: nothing to interrupt, as in MySQL
        bcur.execute("SELECT 1")
        assert bcur.fetchall() == ((1,),)
        acur.execute(f"KILL {b_id}")
        with pytest.raises(pymysql.err.MySQLError):
            bcur.execute("SELECT 1")
        rcur.execute("SELECT k FROM items WHERE id = 1")
        assert rcur.fetchall() == ((1,),)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO items (id, k) VALUES (5, 5)",
        "UPDATE items SET k = 9 WHERE id = 1",
        "DELETE FROM plain",
        "CREATE TABLE t2 (id INT)",
        "DROP TABLE plain",
    ],
)
def test_a_read_only_user_cannot_write(confined: tuple[Proxy, str], sql: str) -> None:
    proxy, _ = confined
    code, message = refused(proxy, sql, user="reader", password="r")
    assert code == 1142 and "'reader'@" in message, message
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchall() == ((2,),)
        cur.execute("SHOW TABLES")
        assert {r[0] for r in cur.fetchall()} == {"items", "plain"}


def test_a_user_without_the_database_cannot_use_it(confined: tuple[Proxy, str]) -> None:
    proxy, _ = confined
    with pytest.raises(pymysql.err.MySQLError) as info:
        proxy.connect(user="stranger", password="s")
    assert info.value.args[0] == 1044
    with proxy.connect(user="stranger", password="s", database=None) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        assert cur.fetchall() == (("information_schema",),)
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("SELECT * FROM app.items")
        assert info.value.args[0] == 1044


def test_kill_query_of_a_running_statement_is_refused_not_faked(confined: tuple[Proxy, str]) -> None:
    """Interrupting a statement on its backends is not built: KILL QUERY says so (1235) instead of answering OK."""
    proxy, _ = confined
    with proxy.connect() as a, proxy.connect() as b, a.cursor() as acur, b.cursor() as bcur:
        bcur.execute("SELECT CONNECTION_ID()")
        (b_id,) = bcur.fetchone()
        sleeper = threading.Thread(target=bcur.execute, args=("SELECT SLEEP(3)",))
        sleeper.start()
        try:
            deadline = time.monotonic() + 10
            while True:
                acur.execute("SHOW PROCESSLIST")
                if any(row[0] == b_id and row[4] == "Query" for row in acur.fetchall()):
                    break
                assert time.monotonic() < deadline, "b's SLEEP never showed as running"
                time.sleep(0.05)  # poll interval
            with pytest.raises(pymysql.err.MySQLError) as info:
                acur.execute(f"KILL QUERY {b_id}")
            assert info.value.args[0] == 1235 and "KILL QUERY" in info.value.args[1]
        finally:
            sleeper.join(timeout=15)
        assert bcur.fetchall() == ((0,),)  # the statement ran to its end
