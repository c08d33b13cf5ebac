"""Smaller things clients and tools run into: SHOW PLUGINS, the process list's Info column, a text '?', a
malformed DECIMAL parameter, a trigger body's NEW.v, CREATE/DROP DATABASE (mariadb-slap), and the proxy's
command line."""

from __future__ import annotations

import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy, direct, proxy_config, start_proxy
from tests.integration.proxy.rawclient import RawClient, error_code
from tests.support import create_mariadb_database, drop_mariadb_database, free_port
from tests.support.polling import wait_until


@pytest.fixture(scope="module")
def plain(proxy: Proxy) -> Iterator[Proxy]:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS counted (v INT)")
    yield proxy


def test_show_plugins_is_allowed(plain: Proxy) -> None:
    with plain.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW PLUGINS")
        assert "InnoDB" in {row[0] for row in cur.fetchall()}


def test_the_process_list_shows_each_statement_as_written(plain: Proxy) -> None:
    with plain.connect() as watcher, plain.connect() as busy, watcher.cursor() as cur:
        sleeper = threading.Thread(target=lambda: busy.cursor().execute("SELECT SLEEP(1.5) AS slow"))
        sleeper.start()
        try:

            def busy_row() -> tuple[object, ...] | None:
                cur.execute("show full processlist")
                rows = {row[0]: row for row in cur.fetchall()}
                return rows.get(busy.thread_id())

            row = wait_until(lambda: (r := busy_row()) is not None and r[7] is not None and r, timeout=10)
            assert row[7] == "SELECT SLEEP(1.5) AS slow"  # type: ignore[index]
            cur.execute("show full processlist")
            mine = {row[0]: row for row in cur.fetchall()}[watcher.thread_id()]
            assert mine[7] == "show full processlist"
        finally:
            sleeper.join()


def test_a_question_mark_in_a_text_query_is_a_syntax_error(plain: Proxy) -> None:
    with plain.connect() as conn, conn.cursor() as cur:
        for sql in ("SELECT ?", "SELECT * FROM counted WHERE v = ?"):
            with pytest.raises(pymysql.err.ProgrammingError) as info:
                cur.execute(sql)
            assert info.value.args[0] == 1064, info.value.args


def test_a_malformed_decimal_parameter_is_a_malformed_packet_not_an_internal_error(plain: Proxy) -> None:
    client = RawClient(plain.port)
    try:
        assert error_code(client.login(USER, PASSWORD, LOGICAL_DB)) is None
        answer = client.command(b"\x16SELECT ?")
        stmt_id = struct.unpack_from("<I", answer, 1)[0]
        for _ in range(4):  # parameter definition + EOF, column definition + EOF
            client.read_packet()
        execute = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00" + b"\x01" + b"\xf6\x00" + b"\x03abc"
        reply = client.command(execute)
        assert error_code(reply) == 1835, reply
        assert error_code(client.command(b"\x0e")) is None  # COM_PING: the session goes on
    finally:
        client.close()
    assert "internal error" not in plain.process.output()


def test_a_trigger_body_may_use_new_and_old(plain: Proxy) -> None:
    with plain.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER IF EXISTS counted_bump")
        cur.execute("CREATE TRIGGER counted_bump BEFORE INSERT ON counted FOR EACH ROW SET NEW.v = NEW.v + 1")
        try:
            cur.execute("INSERT INTO counted (v) VALUES (41)")
            cur.execute("SELECT v FROM counted")
            assert cur.fetchall() == ((42,),)
        finally:
            cur.execute("DROP TRIGGER counted_bump")


def test_an_unknown_log_level_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dbproxy.main", "--config", str(tmp_path / "unused.yaml"), "--log-level", "LOUD"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid choice: 'LOUD'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A proxy of its own (one backend): DROP DATABASE empties its logical database."""
    database = create_mariadb_database("txc_slap")
    port = free_port()
    config = proxy_config(port, {"ds0": database}, {})
    config["users"] = {USER: PASSWORD, "reader": {"password": "r", "databases": {LOGICAL_DB: "read_only"}}}
    proc = start_proxy(config, tmp_path_factory.mktemp("slap"))
    try:
        yield Proxy(port, [database], proc, config)
    finally:
        proc.kill()
        drop_mariadb_database(database)


def test_create_and_drop_database_act_on_the_logical_database(scratch: Proxy) -> None:
    with scratch.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (id INT)")
        cur.execute("CREATE DATABASE IF NOT EXISTS app")  # it exists: the config made it
        cur.execute("DROP SCHEMA IF EXISTS not_mine")  # nothing this user can see: a no-op
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute("CREATE DATABASE not_mine")
        assert info.value.args[0] == 1044
    with scratch.connect(user="reader", password="r") as conn, conn.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute(f"DROP DATABASE {LOGICAL_DB}")
        assert info.value.args[0] == 1142
    with scratch.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {LOGICAL_DB}")
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()
    with direct(scratch.databases[0]) as d, d.cursor() as cur:
        cur.execute("SELECT DATABASE()")  # the physical database stays; only its tables went
        assert cur.fetchall() == ((scratch.databases[0],),)


def test_mariadb_slap_runs_in_the_logical_database(scratch: Proxy) -> None:
    done = subprocess.run(
        [
            "mariadb-slap",
            "--host=127.0.0.1",
            f"--port={scratch.port}",
            f"--user={USER}",
            f"--password={PASSWORD}",
            f"--create-schema={LOGICAL_DB}",
            "--auto-generate-sql",
            "--number-of-queries=40",
            "--concurrency=2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Average number of seconds to run all queries" in done.stdout
    assert "Traceback" not in scratch.process.output()
