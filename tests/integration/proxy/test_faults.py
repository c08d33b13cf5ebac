"""Faults: a backend that goes away, a client that disconnects mid-transaction."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy, direct, mod_table, proxy_config, start_proxy, wait_port
from tests.support import ChildProcess, free_port, mariadb_databases, start_process

FORWARDER = Path(__file__).with_name("forwarder.py")


@pytest.fixture
def two_shards() -> Iterator[list[str]]:
    with mariadb_databases("txc_proxy", 2) as names:
        yield names


def test_stopped_backend_gives_clear_error_and_other_shard_still_served(
    two_shards: list[str], tmp_path: Path, processes: list[ChildProcess]
) -> None:
    # ds1 reaches MariaDB through a TCP forwarder this test owns, so "stopping the backend" is killing it
    fwd_port = free_port()
    forwarder = start_process([sys.executable, str(FORWARDER), str(fwd_port), "127.0.0.1", "3306"], tmp_path, "fwd")
    processes.append(forwarder)
    wait_port(forwarder, fwd_port)
    port = free_port()
    config = proxy_config(
        port,
        {"ds0": two_shards[0], "ds1": f"mysql://root:@127.0.0.1:{fwd_port}/{two_shards[1]}"},
        {"items": mod_table("id", 2, "items")},
    )
    proc = start_proxy(config, tmp_path)
    processes.append(proc)
    proxy = Proxy(port, two_shards, proc, config)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO items (id, v) VALUES (1, 10), (2, 20)")

    forwarder.kill()
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM items WHERE id = 2")  # shard 0 (ds0) is still up
        assert cur.fetchall() == ((20,),)
        with pytest.raises(pymysql.err.MySQLError) as err:
            cur.execute("SELECT v FROM items WHERE id = 1")
        assert err.value.args[0] == 1429
        assert "ds1" in err.value.args[1]
        with pytest.raises(pymysql.err.MySQLError) as err:
            cur.execute("SELECT COUNT(*) FROM items")  # a scatter needs ds1 too
        assert "ds1" in err.value.args[1]
        cur.execute("INSERT INTO items (id, v) VALUES (4, 40)")
        cur.execute("SELECT v FROM items WHERE id = 4")
        assert cur.fetchall() == ((40,),)


def test_client_disconnect_mid_transaction_leaves_nothing_behind(proxy: Proxy, tmp_path: Path) -> None:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
    script = tmp_path / "client.py"
    script.write_text(
        "import os, pymysql, sys\n"
        f"c = pymysql.connect(host='127.0.0.1', port={proxy.port}, user='app', password='secret', database='app')\n"
        "cur = c.cursor()\n"
        "cur.execute('BEGIN')\n"
        "cur.execute('INSERT INTO items (id, k) VALUES (1, 1), (2, 2), (3, 3)')\n"
        "print('inserted', flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert "inserted" in out.stdout
    deadline = time.monotonic() + 10
    while True:
        with proxy.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM items")
            count = cur.fetchone()[0]
        # the rollback happened if the rows are gone and their locks released
        if count == 0:
            break
        assert time.monotonic() < deadline, "rows of a disconnected client's transaction are still there"
        time.sleep(0.1)
    for database, table, key in zip(proxy.databases, ("items_0", "items_1"), (2, 1), strict=True):
        with direct(database) as d, d.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = 2")
            # the same key the dead transaction inserted: an open transaction would hold its lock
            cur.execute(f"INSERT INTO {table} (id, k) VALUES ({key}, 0)")
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone() == (1,)
            cur.execute(f"DELETE FROM {table}")


def test_commit_after_losing_one_backend_branch_commits_nothing(proxy: Proxy) -> None:
    """COMMIT of a multi-shard transaction whose branch on one backend died is refused and rolled back."""

    async def scenario() -> None:
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=proxy.port, user="app", password="secret", db="app")
        async with conn.cursor() as cur:
            await cur.execute("DROP TABLE IF EXISTS items")
            await cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
            await cur.execute("BEGIN")
            await cur.execute("INSERT INTO items (id, k) VALUES (1, 1), (2, 2)")
            with direct(proxy.databases[0]) as d, d.cursor() as dcur:
                # the proxy's CONNECTION_ID() is its own id; ds0's branch is the open InnoDB transaction there
                dcur.execute(
                    "SELECT t.trx_mysql_thread_id FROM information_schema.INNODB_TRX t"
                    " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = %s",
                    (proxy.databases[0],),
                )
                (backend_id,) = dcur.fetchone()
                dcur.execute(f"KILL {backend_id}")
            with pytest.raises(pymysql.err.MySQLError):
                await cur.execute("COMMIT")
            await cur.execute("SELECT COUNT(*) FROM items")
            assert await cur.fetchone() == (0,)
        await conn.ensure_closed()

    asyncio.run(scenario())


def test_reads_survive_pooled_connections_closed_by_the_server(proxy: Proxy) -> None:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 1), (2, 2)")
        cur.execute("SELECT k FROM items WHERE id = 1")
        # the server drops every idle backend connection of the proxy (as wait_timeout would)
        with direct(proxy.databases[1]) as admin, admin.cursor() as acur:
            acur.execute(
                "SELECT id FROM information_schema.processlist WHERE db IN (%s, %s) AND id <> CONNECTION_ID()",
                tuple(proxy.databases),
            )
            ids = [row[0] for row in acur.fetchall()]
            assert ids
            for backend_id in ids:
                acur.execute(f"KILL {backend_id}")
        cur.execute("SELECT k FROM items WHERE id = 1")
        assert cur.fetchall() == ((1,),)
    # the server has closed every killed connection (so the proxy's sockets have their EOF queued) ...
    deadline = time.monotonic() + 10
    with direct(proxy.databases[1]) as admin, admin.cursor() as acur:
        while True:
            acur.execute("SELECT id FROM information_schema.processlist WHERE id IN %s", (tuple(ids),))
            if not acur.fetchall():
                break
            assert time.monotonic() < deadline, "MariaDB did not close the killed connections"
            time.sleep(0.05)
    # ... and a round trip through the proxy's event loop has processed those EOFs before this ping
    with proxy.connect() as conn:
        conn.ping(reconnect=False)
    with proxy.connect() as conn, conn.cursor() as cur:
        # writes are not retried, but idle connections the server closed are no longer handed out
        cur.execute("UPDATE items SET k = 3 WHERE id IN (1, 2)")
        assert cur.rowcount == 2


def test_autocommit_write_over_several_shards_is_all_or_nothing(proxy: Proxy) -> None:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 1)")
        # id 2 is new (shard 0), id 1 is a duplicate (shard 1): the statement fails as a whole
        with pytest.raises(pymysql.err.IntegrityError):
            cur.execute("INSERT INTO items (id, k) VALUES (2, 2), (1, 1)")
        cur.execute("SELECT id FROM items ORDER BY id")
        assert cur.fetchall() == ((1,),)


def test_sigterm_stops_the_proxy_and_rolls_back_open_transactions(
    two_shards: list[str], tmp_path: Path, processes: list[ChildProcess]
) -> None:
    port = free_port()
    config = proxy_config(port, {"ds0": two_shards[0], "ds1": two_shards[1]}, {"items": mod_table("id", 2, "items")})
    proc = start_proxy(config, tmp_path)
    processes.append(proc)
    proxy = Proxy(port, two_shards, proc, config)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY)")
    client = proxy.connect()
    client.begin()
    client.cursor().execute("INSERT INTO items (id) VALUES (1), (2)")
    assert proc.terminate() == 0
    client.close()
    for database, table in zip(two_shards, ("items_0", "items_1"), strict=True):
        with direct(database) as d, d.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            assert cur.fetchone() == (0,)
