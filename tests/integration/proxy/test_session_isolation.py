"""Sessions never share state through pooled backend connections: two users interleave on a pool of two
connections, each holding one once it created state, and a third session afterwards runs on the first
user's former connection (the only one free), which must have been reset."""

from __future__ import annotations

import contextlib
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, direct, proxy_config, start_proxy
from tests.integration.proxy.rawclient import RawClient, error_code
from tests.support import ChildProcess, create_mariadb_database, drop_mariadb_database, free_port

OTHER, OTHER_PASSWORD = "other", "other-secret"


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    db = create_mariadb_database("txc_iso")
    proc: ChildProcess | None = None
    try:
        with direct(db) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE plain (id INT)")
        port = free_port()
        config = proxy_config(port, {"ds0": db}, {})
        config["users"][OTHER] = OTHER_PASSWORD
        # two backend connections for everyone: a session that holds one leaves exactly one to the others
        config["pool"] = {"max_connections": 2, "connect_timeout": 20.0}
        proc = start_proxy(config, tmp_path_factory.mktemp("iso"))
        yield port, db
    finally:
        if proc is not None:
            proc.kill()
        drop_mariadb_database(db)


@contextlib.contextmanager
def _connect(port: int, user: str = USER, password: str = PASSWORD) -> Iterator[pymysql.connections.Connection]:
    """A client session; a test may end it early with close()."""
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user=user, password=password, database=LOGICAL_DB, autocommit=True
    )
    try:
        yield conn
    finally:
        if conn.open:
            conn.close()


def _one(conn: pymysql.connections.Connection, sql: str) -> object:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return None if row is None else row[0]


def test_user_variables_stay_with_their_session(isolated: tuple[int, str]) -> None:
    port, _ = isolated
    with _connect(port) as a, _connect(port, OTHER, OTHER_PASSWORD) as b:
        assert _one(a, "SELECT @v := 'secret-A'") == "secret-A"
        assert _one(b, "SELECT @v") is None
        assert _one(b, "SELECT @v := 'secret-B'") == "secret-B"
        assert _one(a, "SELECT @v") == "secret-A"
        assert _one(b, "SELECT @v") == "secret-B"
        a.close()
        # b holds one connection, so this session runs on the one a used: reset before it got it
        with _connect(port, OTHER, OTHER_PASSWORD) as c:
            assert _one(c, "SELECT @v") is None


def test_temporary_tables_stay_with_their_session(isolated: tuple[int, str]) -> None:
    port, db = isolated
    with _connect(port) as a, _connect(port, OTHER, OTHER_PASSWORD) as b:
        with a.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE plain (id INT)")
            cur.execute("INSERT INTO plain VALUES (-1)")
        with b.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE b_only (id INT)")  # b holds its connection too
            for i in range(10):
                cur.execute("INSERT INTO plain VALUES (%s)", (i,))
        assert _one(a, "SELECT COUNT(*) FROM plain") == 1  # a's temporary table, not the real one
        assert _one(b, "SELECT COUNT(*) FROM plain") == 10
        a.close()
        with direct(db) as conn:
            assert _one(conn, "SELECT COUNT(*) FROM plain") == 10  # b's inserts reached the real table
            assert _one(conn, "SELECT COUNT(*) FROM plain WHERE id = -1") == 0
        with _connect(port, OTHER, OTHER_PASSWORD) as c:
            assert _one(c, "SELECT COUNT(*) FROM plain") == 10
            with pytest.raises(pymysql.err.ProgrammingError) as refused:
                _one(c, "SELECT COUNT(*) FROM b_only")
            assert refused.value.args[0] == 1146
        with direct(db) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM plain")


def test_named_locks_stay_with_their_session_and_end_with_it(isolated: tuple[int, str]) -> None:
    port, _ = isolated
    lock = f"txc_iso_{uuid.uuid4().hex[:8]}"  # named locks are server-wide
    with _connect(port) as a, _connect(port, OTHER, OTHER_PASSWORD) as b:
        assert _one(a, f"SELECT GET_LOCK('{lock}', 0)") == 1
        assert _one(b, f"SELECT GET_LOCK('{lock}', 0)") == 0  # held by another session, as in MariaDB
        assert _one(a, f"SELECT IS_USED_LOCK('{lock}') IS NOT NULL") == 1
        assert _one(a, f"SELECT RELEASE_LOCK('{lock}')") == 1  # a's own connection holds it
        assert _one(b, f"SELECT GET_LOCK('{lock}', 0)") == 1
        b.close()  # ends b's session: its lock is released with it
        with direct("mysql") as conn:
            assert _one(conn, f"SELECT IS_FREE_LOCK('{lock}')") == 1


def test_named_lock_is_released_by_reset_connection(isolated: tuple[int, str]) -> None:
    port, _ = isolated
    lock = f"txc_iso_{uuid.uuid4().hex[:8]}"
    client = RawClient(port)
    try:
        assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
        client.command(b"\x03" + f"SELECT GET_LOCK('{lock}', 0)".encode())
        client.buf = b""  # the rest of the result set (this test only cares about what follows)
        with direct("mysql") as conn:
            assert _one(conn, f"SELECT IS_FREE_LOCK('{lock}')") == 0
            assert client.command(b"\x1f")[0] == 0  # COM_RESET_CONNECTION
            assert _one(conn, f"SELECT IS_FREE_LOCK('{lock}')") == 1
    finally:
        client.close()


def test_session_variables_stay_with_their_session(isolated: tuple[int, str]) -> None:
    port, _ = isolated
    with _connect(port) as a, _connect(port, OTHER, OTHER_PASSWORD) as b:
        with a.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
            cur.execute("SET @@session.time_zone = '+05:00'")
        assert "ANSI_QUOTES" not in str(_one(b, "SELECT @@session.sql_mode"))
        assert _one(b, "SELECT @@session.time_zone") != "+05:00"
        assert _one(a, "SELECT @@session.time_zone") == "+05:00"
        assert "ANSI_QUOTES" in str(_one(a, "SELECT @@session.sql_mode"))
        a.close()
        with _connect(port, OTHER, OTHER_PASSWORD) as c:
            assert _one(c, "SELECT @@session.time_zone") != "+05:00"


def test_prepared_statements_stay_with_their_session(isolated: tuple[int, str], tmp_path: Path) -> None:
    port, _ = isolated
    a, b = RawClient(port), RawClient(port)
    try:
        assert a.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
        assert b.login(OTHER, OTHER_PASSWORD, LOGICAL_DB)[0] == 0
        prepared = a.command(b"\x16SELECT COUNT(*) FROM plain WHERE id > ?")
        assert prepared[0] == 0
        stmt_id = struct.unpack_from("<I", prepared, 1)[0]
        a.buf = b""
        execute = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01" + b"\x08\x00" + struct.pack("<q", 0)
        assert error_code(b.command(execute)) == 1243  # a's statement id means nothing in b's session
    finally:
        a.close()
        b.close()


def test_a_transaction_runs_on_the_connection_holding_the_sessions_state(isolated: tuple[int, str]) -> None:
    port, db = isolated
    with _connect(port) as a:
        with a.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE scratch (id INT)")
            cur.execute("SET @n := 3")
            cur.execute("BEGIN")
            cur.execute("INSERT INTO scratch VALUES (@n)")
            cur.execute("COMMIT")
            cur.execute("START TRANSACTION")
            cur.execute("INSERT INTO scratch VALUES (4)")
            cur.execute("ROLLBACK")
        assert _one(a, "SELECT GROUP_CONCAT(id) FROM scratch") == "3"
    with direct(db) as conn:
        assert _one(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'scratch'") == 0


def test_state_created_inside_a_transaction_stays_with_its_session(isolated: tuple[int, str]) -> None:
    port, _ = isolated
    with _connect(port) as a, _connect(port, OTHER, OTHER_PASSWORD) as b:
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT @in_txn := 'secret-A'")
            cur.execute("COMMIT")
        assert _one(b, "SELECT @in_txn := NULL") is None  # b holds a connection of its own now
        assert _one(a, "SELECT @in_txn") == "secret-A"
        a.close()
        with _connect(port, OTHER, OTHER_PASSWORD) as c:  # the only free connection: the one a used
            assert _one(c, "SELECT @in_txn") is None
