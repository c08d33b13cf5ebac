"""Lock conflicts between transactions that span backends."""

from __future__ import annotations

import threading
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy


@pytest.fixture
def rows(proxy: Proxy) -> Proxy:
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS items")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT NOT NULL)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 0), (2, 0), (3, 0), (4, 0)")
    return proxy


def _in_thread(fn: Any) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_deadlock_across_backends_ends_with_lock_wait_timeout(rows: Proxy) -> None:
    """Opposite lock order on two backends: no server sees the cycle; the configured timeout breaks it."""
    a, b = rows.connect(), rows.connect()
    try:
        ca, cb = a.cursor(), b.cursor()
        a.begin()
        b.begin()
        ca.execute("UPDATE items SET k = 1 WHERE id = 1")  # shard 1
        cb.execute("UPDATE items SET k = 2 WHERE id = 2")  # shard 0
        thread, outcome = _in_thread(lambda: ca.execute("UPDATE items SET k = 1 WHERE id = 2"))
        errors = []
        try:
            cb.execute("UPDATE items SET k = 2 WHERE id = 1")
        except pymysql.err.MySQLError as exc:
            errors.append(exc.args[0])
        thread.join(timeout=60)
        assert not thread.is_alive()
        if outcome[0] is not None:
            errors.append(outcome[0].args[0])  # type: ignore[union-attr]
        # both waiters may time out; what matters is that the deadlock ends with lock wait timeouts
        assert errors and set(errors) == {1205}
    finally:
        a.close()
        b.close()


def test_deadlock_on_one_backend_rolls_back_the_whole_transaction(rows: Proxy) -> None:
    """MySQL rolls a deadlocked transaction back entirely; through the proxy its branches elsewhere go too."""
    a, b = rows.connect(), rows.connect()
    try:
        ca, cb = a.cursor(), b.cursor()
        for cur in (ca, cb):
            # replayed on the session's backend connections: the deadlock, not a timeout, must end the wait
            cur.execute("SET SESSION innodb_lock_wait_timeout = 30")
        a.begin()
        b.begin()
        ca.execute("UPDATE items SET k = 10 WHERE id = 2")  # shard 0, A only
        cb.execute("UPDATE items SET k = 20 WHERE id = 4")  # shard 0, B only
        ca.execute("UPDATE items SET k = 10 WHERE id = 1")  # shard 1
        cb.execute("UPDATE items SET k = 20 WHERE id = 3")  # shard 1
        thread, outcome = _in_thread(lambda: ca.execute("UPDATE items SET k = 10 WHERE id = 3"))
        b_error = None
        try:
            cb.execute("UPDATE items SET k = 20 WHERE id = 1")  # same-server cycle: InnoDB picks a victim
        except pymysql.err.MySQLError as exc:
            b_error = exc.args[0]
        thread.join(timeout=60)
        a_error = outcome[0].args[0] if outcome[0] is not None else None  # type: ignore[union-attr]
        assert sorted(e for e in (a_error, b_error) if e is not None) == [1213]
        winner, loser, loser_only_row = (a, b, 4) if b_error == 1213 else (b, a, 2)
        winner.commit()
        loser.commit()  # what sysbench does next (its BEGIN commits): there must be nothing left to commit
        with rows.connect() as check, check.cursor() as cur:
            cur.execute("SELECT k FROM items WHERE id = %s", (loser_only_row,))
            assert cur.fetchone() == (0,)  # the loser's update on the other backend did not survive
    finally:
        a.close()
        b.close()
