"""The demo's sharded part: transfers across two MariaDB shards through dbproxy, atomic by XA branches that
the demo's coordinator decides; the proxy is SIGKILLed and restarted half-way.

The proxy is a separate program (``dbproxy``), started like the banks; nothing of it is imported here. Needs a
MariaDB/MySQL server (``TXC_DEMO_MARIADB``, default ``root@127.0.0.1:3306``); without one this part is skipped."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import yaml

from sdk.processes import ChildProcess, free_port, script_command

MARIADB = os.environ.get("TXC_DEMO_MARIADB", "root@127.0.0.1:3306")
ACCOUNTS = 8  # even ids on shard 0, odd on shard 1
OPENING = 100
XA_FORMAT_ID = 0x747863  # dbproxy's xids


def _server() -> tuple[str, str, int]:
    user, _, hostport = MARIADB.rpartition("@")
    host, _, port = hostport.partition(":")
    return user or "root", host, int(port or 3306)


def _admin(database: str | None = None) -> pymysql.connections.Connection:
    user, host, port = _server()
    return pymysql.connect(host=host, port=port, user=user, password="", database=database, autocommit=True)


def mariadb_reachable() -> bool:
    try:
        _admin().close()
        return True
    except pymysql.err.MySQLError:
        return False


def _transfer(port: int, src: int, dst: int, amount: int) -> str:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="demo", password="demo", database="bank", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            debit = "UPDATE account SET balance = balance - %s WHERE id = %s AND balance >= %s"
            if cur.execute(debit, (amount, src, amount)) == 0:
                cur.execute("ROLLBACK")
                return "refused"
            cur.execute("UPDATE account SET balance = balance + %s WHERE id = %s", (amount, dst))
            cur.execute("COMMIT")
            return "committed"
    finally:
        conn.close()


class ShardedDemo:
    def __init__(self, coordinator: str, log_dir: Path, progress: Callable[[str], None]) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.coordinator = coordinator
        self.log_dir = log_dir
        self.progress = progress
        self.shards = [f"txc_demo_shard{i}_{suffix}" for i in range(2)]
        self.service = f"demo-proxy-{suffix}"
        self.port = 0
        self.config_path = log_dir / "dbproxy.yaml"

    def _setup(self) -> None:
        user, host, port = _server()
        admin = _admin()
        with admin.cursor() as cur:
            for i, db in enumerate(self.shards):
                cur.execute(f"CREATE DATABASE `{db}`")
                cur.execute(f"CREATE TABLE `{db}`.account_{i} (id INT PRIMARY KEY, balance INT NOT NULL)")
                rows = ",".join(f"({k}, {OPENING})" for k in range(i, ACCOUNTS, 2))
                cur.execute(f"INSERT INTO `{db}`.account_{i} VALUES {rows}")
        admin.close()
        self.port = free_port()
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "users": {"demo": "demo"},
            "backends": {f"ds{i}": f"mysql://{user}:@{host}:{port}/{db}" for i, db in enumerate(self.shards)},
            "databases": {
                "bank": {
                    "default_backend": "ds0",
                    "sharded_tables": {
                        "account": {"column": "id", "algorithm": "mod", "nodes": ["ds0.account_0", "ds1.account_1"]}
                    },
                }
            },
            "pool": {"lock_wait_timeout": 5},
            "transactions": {"coordinator": self.coordinator, "service": self.service, "timeout": 5},
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config))

    def _start_proxy(self, name: str) -> ChildProcess:
        command = [*script_command("dbproxy", "dbproxy.main"), "--config", str(self.config_path)]
        child = ChildProcess(command, self.log_dir / f"{name}.log")
        child.wait_listening(self.port, timeout=30)
        return child

    def balances(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for i, db in enumerate(self.shards):
            with _admin(db).cursor() as cur:
                cur.execute(f"SELECT id, balance FROM account_{i}")
                out.update({int(k): int(v) for k, v in cur.fetchall()})
        return out

    def prepared(self) -> int:
        with _admin().cursor() as cur:
            cur.execute("XA RECOVER")
            rows = cur.fetchall()
        mine = self.service.encode()
        return sum(1 for f, g, b, data in rows if f == XA_FORMAT_ID and data[g : g + b].startswith(mine))

    def run(self, transfers: int = 40, clients: int = 4) -> dict[str, Any]:
        self._setup()
        children = [self._start_proxy("dbproxy")]
        self.progress(f"dbproxy serving 2 MariaDB shards on 127.0.0.1:{self.port}, XA through {self.coordinator}")
        before = self.balances()
        outcomes: dict[str, int] = {}
        lock = threading.Lock()
        next_index = iter(range(transfers))
        rng = random.Random(11)
        pairs = [
            (rng.randrange(0, ACCOUNTS, 2), rng.randrange(1, ACCOUNTS, 2), rng.randint(5, 60)) for _ in range(transfers)
        ]

        def worker() -> None:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                src, dst, amount = pairs[i]
                if i % 2:
                    src, dst = dst, src
                try:
                    result = _transfer(self.port, src, dst, amount)
                except pymysql.err.MySQLError as exc:
                    code = exc.args[0] if exc.args else "?"
                    result = f"error {code}" + (" (proxy down)" if code in (2003, 2013) else "")
                    time.sleep(0.2)
                with lock:
                    outcomes[result] = outcomes.get(result, 0) + 1

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        while sum(outcomes.values()) < transfers // 2:
            time.sleep(0.05)
        self.progress(
            "SIGKILL dbproxy half-way (when it is back, its prepared branches are finished by the decision row"
            " each commit wrote in one backend)"
        )
        children[0].kill()
        children.append(self._start_proxy("dbproxy-restarted"))
        self.progress("dbproxy restarted")
        for t in threads:
            t.join()
        deadline = time.monotonic() + 60
        while self.prepared() and time.monotonic() < deadline:
            time.sleep(0.2)
        after = self.balances()
        for child in children:
            child.stop()
        admin = _admin()
        with admin.cursor() as cur:
            for db in self.shards:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        admin.close()
        return {
            "transfers": transfers,
            "outcomes": outcomes,
            "total_before": sum(before.values()),
            "total_after": sum(after.values()),
            "left_prepared": self.prepared(),
            "conserved": sum(before.values()) == sum(after.values()) and min(after.values()) >= 0,
            "balances_after": after,
        }


async def run_sharded(coordinator: str, log_dir: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    if not await asyncio.to_thread(mariadb_reachable):
        progress(f"no MariaDB at {MARIADB}: skipping the sharded part (set TXC_DEMO_MARIADB)")
        return {"skipped": f"no MariaDB at {MARIADB}"}
    return await asyncio.to_thread(ShardedDemo(coordinator, log_dir, progress).run)
