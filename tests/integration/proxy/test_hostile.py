"""Hostile bytes: size caps before and after login, timeouts, the connection limit, malformed commands, and a
bounded fuzz run with a second session checking answers throughout. No input may leave a traceback in the
proxy's log or Python text in an error packet, and the proxy must stay up."""

from __future__ import annotations

import random
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pymysql
import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy, mod_table, proxy_config, start_proxy
from tests.integration.proxy.rawclient import RawClient, error_code, frame
from tests.support import create_mariadb_database, drop_mariadb_database, free_port

MAX_PACKET = 1024 * 1024
MAX_CONNECTIONS = 40


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    shards = [create_mariadb_database("txc_hostile") for _ in range(2)]
    port = free_port()
    config: dict[str, Any] = proxy_config(
        port, {"ds0": shards[0], "ds1": shards[1]}, {"items": mod_table("id", 2, "items")}
    )
    config["limits"] = {
        "max_allowed_packet": MAX_PACKET,
        "handshake_timeout": 2.0,
        "max_connections": MAX_CONNECTIONS,
    }
    proc = start_proxy(config, tmp_path_factory.mktemp("hostile"))
    proxy = Proxy(port, shards, proc, config)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("INSERT INTO items (id, k) VALUES " + ", ".join(f"({i}, {i * 10})" for i in range(1, 21)))
    yield proxy
    proc.kill()
    for name in shards:
        drop_mariadb_database(name)


def assert_clean_log(proxy: Proxy) -> None:
    log = proxy.process.output()
    assert "Traceback" not in log, log[-3000:]
    assert proxy.process.alive()


def wait_closed(client: RawClient, deadline: float) -> bool:
    """True once the proxy closed the connection (reads what it sends until then)."""
    client.sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not client.sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_oversized_packet_before_login_is_refused_and_memory_stays_bounded(hostile: Proxy) -> None:
    process = psutil.Process(hostile.process.pid)
    before = process.memory_info().rss
    chunk = b"\x00" * (1 << 20)
    peak = before
    for _ in range(6):
        client = RawClient(hostile.port)
        client.greeting()
        client.send_raw(b"\xff\xff\xff\x01")  # a 16 MiB packet follows, then continuation packets
        sent = 0
        try:
            while sent < 48 * (1 << 20):
                client.sock.sendall(chunk)
                sent += len(chunk)
                peak = max(peak, process.memory_info().rss)
        except OSError:
            pass  # the proxy answered 1153 and closed after the header: nothing more is read
        client.close()
        peak = max(peak, process.memory_info().rss)
        assert sent < 48 * (1 << 20), "the proxy kept reading a packet over its pre-login limit"
    assert peak - before < 32 * (1 << 20), (before, peak)
    assert_clean_log(hostile)


def test_max_allowed_packet_after_login(hostile: Proxy) -> None:
    client = RawClient(hostile.port)
    assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
    query = b"\x03SELECT '" + b"x" * (MAX_PACKET + 10) + b"'"
    # The proxy may answer 1153 and close before the client has finished writing: a client can then see a
    # broken pipe or a reset instead of the answer. Whatever part of the answer arrives must be the 1153.
    try:
        answer: bytes | None = client.command(query)
    except (BrokenPipeError, ConnectionResetError):
        try:
            answer = client.read_packet()[1]
        except OSError:  # the reset discarded what the proxy had sent
            answer = None
    if answer is not None:
        assert error_code(answer) == 1153 and b"max_allowed_packet" in answer
    client.close()
    with hostile.connect() as conn, conn.cursor() as cur:  # a statement under the cap still runs
        cur.execute("SELECT LENGTH(%s)", ("y" * (MAX_PACKET // 2),))
        assert cur.fetchall() == ((MAX_PACKET // 2,),)


def test_a_client_that_never_logs_in_is_dropped(hostile: Proxy) -> None:
    client = RawClient(hostile.port)
    client.greeting()
    assert wait_closed(client, time.monotonic() + 30), "no handshake timeout"
    client.close()


def test_wait_timeout_closes_an_idle_client(hostile: Proxy) -> None:
    client = RawClient(hostile.port)
    assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
    assert client.command(b"\x03SET wait_timeout = 1")[0] == 0
    assert wait_closed(client, time.monotonic() + 30), "an idle client outlived its wait_timeout"
    client.close()
    other = RawClient(hostile.port)  # the default (28800 s) still holds for everyone else
    assert other.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
    assert other.command(b"\x0e")[0] == 0
    other.close()


def test_connections_beyond_the_limit_get_1040(hostile: Proxy) -> None:
    held = [hostile.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        with pytest.raises(pymysql.err.OperationalError) as info:
            hostile.connect()
        assert info.value.args[0] == 1040
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + 20
    while True:  # the slots come back once the proxy has seen the closes
        try:
            hostile.connect().close()
            break
        except pymysql.err.OperationalError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_unknown_and_reply_less_commands(hostile: Proxy) -> None:
    client = RawClient(hostile.port)
    assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
    assert error_code(client.command(b"\xab")) == 1047
    assert error_code(client.command(b"\x1c")) == 1047  # COM_BINLOG_DUMP: never served
    # COM_STMT_CLOSE (even malformed) and COM_STMT_SEND_LONG_DATA get no reply: the next answer is the PING's
    client.send_raw(frame(b"\x19\x01", 0) + frame(b"\x18\x01\x00", 0) + frame(b"\x0e", 0))
    assert client.read_packet()[1][0] == 0
    assert client.command(b"")[0] == 0xFF  # a zero-length packet: an error, the connection stays
    assert client.command(b"\x0e")[0] == 0
    answer = client.command(b"\x17\x05\x00\x00\x00")  # execute of a statement never prepared
    assert error_code(answer) == 1243
    client.close()
    assert_clean_log(hostile)


_SQL_PARTS = [
    "SELECT", "*", "FROM", "items", "WHERE", "id", "=", "1", "(", ")", ",", "'x'", "\"y\"", "k", "ORDER BY",
    "LIMIT", "JOIN", "UNION", "INSERT INTO", "VALUES", "UPDATE", "SET", "DELETE", "mysql.user", "`", "@@x",
    "information_schema.TABLES", "NULL", "0x41", "caf\u00e9", "\\", ";", "--", "/*", "*/", "CONNECTION_ID()",
    "BEGIN", "COMMIT", "ROLLBACK", "?", "SHOW", "TABLES", "KILL", "99999", "LOAD_FILE('x')", "GROUP BY",
]  # fmt: skip


def _random_sql(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "SELECT " + "(" * rng.randint(50, 3000) + "1" + ")" * rng.randint(0, 50)
    return " ".join(rng.choice(_SQL_PARTS) for _ in range(rng.randint(1, 12)))


def _random_packet(rng: random.Random) -> bytes:
    kind = rng.random()
    payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
    if kind < 0.3:
        return frame(payload, rng.randint(0, 3))
    if kind < 0.5:  # a command byte the proxy knows, with a random body
        return frame(bytes((rng.choice([0x03, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x02, 0x11, 0xAB]),)) + payload, 0)
    if kind < 0.6:  # a header that lies about the length, then the connection ends
        return rng.randint(1, 0xFFFFFF).to_bytes(3, "little") + b"\x00" + payload
    if kind < 0.7:
        return payload[:3]
    return frame(b"\x03" + _random_sql(rng).encode("utf-8", "replace"), 0)


def _fuzz_one(port: int, rng: random.Random) -> None:
    client = RawClient(port, timeout=5.0)
    try:
        if rng.random() < 0.4:
            client.greeting()
            client.send_raw(_random_packet(rng))  # garbage as the handshake response
        else:
            answer = client.login(USER, PASSWORD, LOGICAL_DB)
            assert answer[0] == 0, answer
            for _ in range(rng.randint(1, 4)):
                client.send_raw(_random_packet(rng))
        client.sock.settimeout(0.2)
        try:
            while client.sock.recv(65536):
                pass
        except (TimeoutError, OSError):
            pass
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        client.close()


def test_fuzz_does_not_break_the_proxy_or_other_sessions(hostile: Proxy) -> None:
    rng = random.Random(20261127)
    wrong: list[str] = []
    stop = threading.Event()
    checks = 0

    def checker() -> None:
        nonlocal checks
        with hostile.connect() as conn, conn.cursor() as cur:
            i = 0
            while not stop.is_set():
                i = i % 20 + 1
                cur.execute("SELECT k FROM items WHERE id = %s", (i,))
                got = cur.fetchall()
                if got != ((i * 10,),):
                    wrong.append(f"id {i}: {got}")
                cur.execute("SELECT COUNT(*), SUM(k) FROM items")
                if cur.fetchall() != ((20, 2100),):
                    wrong.append("aggregate changed")
                checks += 1

    thread = threading.Thread(target=checker)
    thread.start()
    try:
        deadline = time.monotonic() + 4.0
        with hostile.connect() as conn, conn.cursor() as cur:
            while time.monotonic() < deadline:
                _fuzz_one(hostile.port, rng)
                sql = _random_sql(rng)
                try:  # random SQL through a real driver: an answer or a MySQL error, never a dropped connection
                    if not any(w in sql.upper() for w in ("INSERT", "UPDATE", "DELETE", "KILL", "BEGIN")):
                        cur.execute(sql)
                        cur.fetchall()
                except pymysql.err.InterfaceError:
                    pass
                except pymysql.err.MySQLError as exc:
                    assert not isinstance(exc, pymysql.err.OperationalError) or exc.args[0] not in (2013, 2006), sql
                    assert "Traceback" not in str(exc) and "Error:" not in str(exc), (sql, exc)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert wrong == []
    assert checks > 0
    assert_clean_log(hostile)
    with hostile.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchall() == ((20,),)


def test_prepared_execute_with_bad_parameters_is_an_error_not_a_crash(hostile: Proxy) -> None:
    client = RawClient(hostile.port)
    assert client.login(USER, PASSWORD, LOGICAL_DB)[0] == 0
    client.send_raw(frame(b"\x16SELECT k FROM items WHERE id = ?", 0))
    _, first = client.read_packet()
    stmt_id, ncols, nparams = struct.unpack_from("<IHH", first, 1)
    for _ in range((nparams + 1 if nparams else 0) + (ncols + 1 if ncols else 0)):
        client.read_packet()  # parameter and column definitions, each list ended by an EOF
    answer = client.command(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + b"\x00\x01\x08")  # types, no value
    assert answer[0] == 0xFF and b"Traceback" not in answer
    assert client.command(b"\x0e")[0] == 0
    client.close()
    assert_clean_log(hostile)
