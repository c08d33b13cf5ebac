"""Real processes for the XA tests: a coordinator on a fresh PostgreSQL store, dbproxy instances joined to it,
two MariaDB shards holding an `acct` table sharded by id (even ids on ds0, odd on ds1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pymysql

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, proxy_config, start_proxy
from tests.support import ChildProcess, create_pg_database, free_port, start_process
from tests.support.polling import wait_until
from txcoord.store.migrations import upgrade

TXC = str(Path(sys.executable).with_name("txc"))
XA_FORMAT_ID = 0x747863
ACCT = {"acct": {"column": "id", "algorithm": "mod", "nodes": ["ds0.acct_0", "ds1.acct_1"]}}


def wait_for(check: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    """The XA tests' poll: :func:`tests.support.polling.wait_until` with their longer default deadline."""
    return wait_until(check, timeout, what)


def direct(database: str) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database, autocommit=True)


class XaRig:
    """Starts processes for one test; everything is SIGKILLed by the ``processes`` fixture at the end."""

    def __init__(self, tmp_path: Path, processes: list[ChildProcess], shard_dbs: list[str]) -> None:
        self.log_dir = tmp_path / "logs"
        self.processes = processes
        self.shard_dbs = shard_dbs
        self.service = f"proxy-{uuid.uuid4().hex[:8]}"  # XA RECOVER is server-wide: scope to this test
        self.decision_schema = f"txc_xad_{uuid.uuid4().hex[:8]}"  # server-wide too: dropped by the fixture
        self.store = asyncio.run(create_pg_database("txc_xa"))
        upgrade(self.store)
        self.coordinator_port = free_port()
        self.coordinator_address = f"127.0.0.1:{self.coordinator_port}"
        self.coordinator_proc: ChildProcess | None = None
        self._count = 0
        for i, db in enumerate(shard_dbs):
            with direct(db).cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS acct_{i}")
                cur.execute(f"CREATE TABLE acct_{i} (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB")

    def _name(self, base: str) -> str:
        self._count += 1
        return f"{self._count:02d}-{base}"

    # -- processes ----------------------------------------------------------------------------------------

    def start_coordinator(self, address: str | None = None) -> ChildProcess:
        """The rig's coordinator (or, at ``address``, another one sharing its store)."""
        address = address or self.coordinator_address
        args = [TXC, "coordinator", "--listen", address, "--store", self.store]
        args += ["--node-id", f"node-{address.rpartition(':')[2]}", "--scan-interval", "0.2"]
        proc = start_process(args, self.log_dir, self._name("coordinator"))
        self.processes.append(proc)
        proc.wait_serving(address)
        if address == self.coordinator_address:
            self.coordinator_proc = proc
        return proc

    def config(
        self,
        port: int,
        backends: dict[str, str] | None = None,
        pool: dict[str, Any] | None = None,
        sharded: dict[str, dict[str, Any]] | None = None,
        **transactions: Any,
    ) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "coordinator": self.coordinator_address,
            "service": self.service,
            "timeout": 4,
            "recovery_interval": 1,
            "registry_ttl": 2,
            "decision_schema": self.decision_schema,
        }
        settings.update(transactions)
        config = proxy_config(
            port,
            backends or {"ds0": self.shard_dbs[0], "ds1": self.shard_dbs[1]},
            sharded or ACCT,
            transactions=settings,
        )
        config["pool"].update(pool or {})
        return config

    def start_proxy(
        self,
        port: int | None = None,
        failpoints: str = "",
        backends: dict[str, str] | None = None,
        pool: dict[str, Any] | None = None,
        sharded: dict[str, dict[str, Any]] | None = None,
        **transactions: Any,
    ) -> tuple[ChildProcess, int]:
        port = port or free_port()
        config = self.config(port, backends, pool, sharded, **transactions)
        env = {"DBPROXY_FAILPOINTS": failpoints} if failpoints else None
        proc = start_proxy(config, self.log_dir, self._name("dbproxy"), env=env)
        self.processes.append(proc)
        return proc, port

    def start_best_effort_proxy(self, backends: dict[str, str]) -> tuple[ChildProcess, int]:
        """A proxy without a coordinator: multi-backend commits are best effort."""
        port = free_port()
        proc = start_proxy(proxy_config(port, backends, ACCT), self.log_dir, self._name("dbproxy"))
        self.processes.append(proc)
        return proc, port

    # -- data -----------------------------------------------------------------------------------------------

    def seed(self, balances: dict[int, int]) -> None:
        for i, db in enumerate(self.shard_dbs):
            rows = [(k, v) for k, v in balances.items() if k % 2 == i]
            if rows:
                with direct(db).cursor() as cur:
                    cur.executemany(f"INSERT INTO acct_{i} VALUES (%s, %s)", rows)

    def balances(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for i, db in enumerate(self.shard_dbs):
            with direct(db).cursor() as cur:
                cur.execute(f"SELECT id, balance FROM acct_{i}")
                out.update({int(k): int(v) for k, v in cur.fetchall()})
        return out

    def prepared(self) -> list[str]:
        """This test's XA branches left prepared on the server (XA RECOVER lists the whole server's)."""
        with direct(self.shard_dbs[0]).cursor() as cur:
            cur.execute("XA RECOVER")
            rows = cur.fetchall()
        found = []
        for format_id, glen, blen, data in rows:
            bqual = data[glen : glen + blen].decode(errors="replace")
            if format_id == XA_FORMAT_ID and bqual.startswith(f"{self.service}/"):
                found.append(f"{data[:glen].decode(errors='replace')},{bqual}")
        return found

    def store_rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def fetch() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.store)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def decision_rows(self) -> list[tuple[str, str]]:
        """(gid, outcome) of the decision rows the proxies keep on the (shared) MariaDB server."""
        with direct(self.shard_dbs[0]).cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (self.decision_schema,)
            )
            if not cur.fetchone()[0]:
                return []
            cur.execute(f"SELECT gid, outcome FROM `{self.decision_schema}`.xa_decision ORDER BY gid")
            return [(g.decode(), o) for g, o in cur.fetchall()]

    def drop_decisions(self) -> None:
        with direct(self.shard_dbs[0]).cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{self.decision_schema}`")

    def rollback_prepared(self) -> None:
        """Roll back what a failed test left prepared: a prepared branch keeps its tables locked, and dropping the
        test's databases would wait for it forever."""
        with direct(self.shard_dbs[0]).cursor() as cur:
            cur.execute("XA RECOVER")
            for format_id, glen, blen, data in cur.fetchall():
                bqual = data[glen : glen + blen]
                if format_id == XA_FORMAT_ID and bqual.startswith(f"{self.service}/".encode()):
                    with contextlib.suppress(pymysql.err.MySQLError):  # still attached to a live connection
                        cur.execute(f"XA ROLLBACK X'{data[:glen].hex()}',X'{bqual.hex()}',{format_id}")

    def transactions(self) -> dict[str, str]:
        """gid -> state of every global transaction the coordinator recorded."""
        return {r["gid"]: r["state"] for r in self.store_rows("SELECT gid, state FROM txc_transaction")}


def connect(port: int, **kwargs: Any) -> pymysql.connections.Connection:
    args: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "user": USER,
        "password": PASSWORD,
        "database": LOGICAL_DB,
        "autocommit": True,
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    args.update(kwargs)
    return pymysql.connect(**args)


def transfer(conn: pymysql.connections.Connection, src: int, dst: int, amount: int) -> bool:
    """Move ``amount`` from ``src`` to ``dst`` in one client transaction; False if ``src`` lacks the money."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        debit = "UPDATE acct SET balance = balance - %s WHERE id = %s AND balance >= %s"
        if cur.execute(debit, (amount, src, amount)) == 0:
            cur.execute("ROLLBACK")
            return False
        cur.execute("UPDATE acct SET balance = balance + %s WHERE id = %s", (amount, dst))
        cur.execute("COMMIT")
    return True


def txc(*args: str) -> subprocess.CompletedProcess[str]:
    # wide enough that tables do not wrap the xids
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60, env=env)


def registered_addresses(rig: XaRig) -> list[str]:
    """The addresses `txc registry ls` lists for the rig's proxy service (waits until it lists one)."""
    addresses: list[str] = wait_for(
        lambda: [
            e["address"]
            for e in json.loads(txc("registry", "ls", "--json", "--registry", rig.coordinator_address).stdout or "[]")
            if e.get("service") == rig.service
        ],
        what="the proxy in `txc registry ls`",
    )
    return addresses


def settled(rig: XaRig) -> bool:
    """Every global transaction terminal and recorded by the coordinator (no decision row left unreported), and
    nothing of this test left prepared."""
    states = rig.transactions()
    return (
        not rig.prepared()
        and not rig.decision_rows()
        and all(s in ("COMMITTED", "ROLLED_BACK") for s in states.values())
    )
