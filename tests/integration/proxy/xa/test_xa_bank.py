"""The bank workload: 16 clients move money between rows on different shards through the proxy while the proxy
is SIGKILLed and restarted every few seconds. Money is neither created nor destroyed.

CI runs it for 15 s; ``TXC_XA_BANK_SECONDS=60`` runs the full-length version of the issue."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.xa.rig import XaRig, connect, settled, transfer, wait_for

SECONDS = float(os.environ.get("TXC_XA_BANK_SECONDS", "15"))
CLIENTS = 16
ACCOUNTS = 16
START = 1000

pytestmark = pytest.mark.timeout(SECONDS * 3 + 240)


def client(port: int, stop: threading.Event, counts: Counter[str], seed: int) -> None:
    rnd = random.Random(seed)
    conn: pymysql.connections.Connection | None = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = connect(port, read_timeout=20, write_timeout=20)
            src = rnd.randrange(ACCOUNTS)
            dst = rnd.randrange(ACCOUNTS // 2) * 2 + (1 - src % 2)  # the other shard
            counts["committed" if transfer(conn, src, dst, rnd.randint(1, 60)) else "refused"] += 1
        except pymysql.err.MySQLError as exc:
            counts[f"error {exc.args[0] if exc.args else '?'}"] += 1
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(0.05)  # the proxy is restarting: do not spin
    if conn is not None:
        conn.close()


def test_bank_transfers_survive_proxy_kills(rig: XaRig, tmp_path: Path) -> None:
    rig.seed({i: START for i in range(4, ACCOUNTS)})  # the fixture seeded 0..3 with 100 each
    with_fixture = {0: 100, 1: 100, 2: 100, 3: 100}
    total = sum(with_fixture.values()) + START * (ACCOUNTS - 4)
    proc, port = rig.start_proxy()
    stop = threading.Event()
    counts: Counter[str] = Counter()
    threads = [threading.Thread(target=client, args=(port, stop, counts, n), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    kills = 0
    rnd = random.Random(7)
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        pause_until = time.monotonic() + rnd.uniform(2.0, 4.0)
        while time.monotonic() < min(pause_until, deadline):
            time.sleep(0.1)
        if time.monotonic() >= deadline:
            break
        proc.kill()
        kills += 1
        proc, _ = rig.start_proxy(port=port)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    print(f"bank workload: {SECONDS:g}s, {kills} proxy kills, {dict(counts)}")
    assert kills >= 2
    assert counts["committed"] > 0
    wait_for(lambda: settled(rig), timeout=90, what="every global transaction terminal, nothing prepared")
    balances = rig.balances()
    assert sum(balances.values()) == total, balances
    assert min(balances.values()) >= 0, balances
    assert not rig.prepared()
    assert set(rig.transactions().values()) <= {"COMMITTED", "ROLLED_BACK"}
