"""Fixtures for proxy tests: physical shard databases on the local MariaDB and real `dbproxy` processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from tests.support import (
    ChildProcess,
    free_port,
    mariadb_databases,
    start_process,
)

USER = "app"
PASSWORD = "secret"
LOGICAL_DB = "app"


def wait_port(proc: ChildProcess, port: int, timeout: float = 20.0) -> None:
    """Block until the proxy accepts connections on ``port``."""
    proc.wait_listening(port, timeout=timeout)


def proxy_config(
    port: int,
    backends: dict[str, str],
    sharded: dict[str, dict[str, Any]],
    broadcast: list[str] | None = None,
    default: str = "ds0",
    transactions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config dict; ``backends`` maps backend name -> physical database (or a full DSN). Without
    ``transactions`` multi-backend commits are best effort (the XA tests pass a coordinator)."""
    return {
        "listen": f"127.0.0.1:{port}",
        "users": {USER: PASSWORD, "root": ""},
        "backends": {
            name: (db if "://" in db else f"mysql://root:@127.0.0.1:3306/{db}") for name, db in backends.items()
        },
        "databases": {
            LOGICAL_DB: {"default_backend": default, "sharded_tables": sharded, "broadcast_tables": broadcast or []}
        },
        "pool": {"connect_timeout": 1.0, "lock_wait_timeout": 2},
        "transactions": transactions or {"mode": "best_effort"},
    }


def mod_table(column: str, n: int, table: str, auto_increment: bool = False) -> dict[str, Any]:
    return {
        "column": column,
        "algorithm": "mod",
        "nodes": [f"ds{i}.{table}_{i}" for i in range(n)],
        "auto_increment": auto_increment,
    }


@dataclass
class Proxy:
    port: int
    databases: list[str]
    process: ChildProcess
    config: dict[str, Any] = field(default_factory=dict)

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection:
        args: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": USER,
            "password": PASSWORD,
            "database": LOGICAL_DB,
            "autocommit": True,
        }
        args.update(kwargs)
        return pymysql.connect(**args)


def start_proxy(
    config: dict[str, Any], log_dir: Path, name: str = "dbproxy", env: dict[str, str] | None = None
) -> ChildProcess:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = start_process(["dbproxy", "--config", str(path)], log_dir, name, env=env)
    wait_port(proc, int(config["listen"].rsplit(":", 1)[1]))
    return proc


@pytest.fixture(scope="module")
def shard_dbs() -> Iterator[list[str]]:
    """Two fresh physical databases, one per backend."""
    with mariadb_databases("txc_proxy", 2) as names:
        yield names


@pytest.fixture(scope="module")
def proxy(shard_dbs: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A real `dbproxy` process over two backends: `items`/`orders` sharded by id (mod 2), `settings` broadcast,
    everything else on ds0."""
    port = free_port()
    config = proxy_config(
        port,
        {"ds0": shard_dbs[0], "ds1": shard_dbs[1]},
        {
            "items": mod_table("id", 2, "items", auto_increment=True),
            "orders": {"column": "item_id", "algorithm": "mod", "nodes": ["ds0.orders_0", "ds1.orders_1"]},
            "sbtest1": mod_table("id", 2, "sbtest1", auto_increment=True),
            "people": {
                "column": "id",
                "algorithm": "range",
                "boundaries": [100],
                "nodes": ["ds0.people_lo", "ds1.people_hi"],
            },
        },
        broadcast=["settings"],
    )
    proc = start_proxy(config, tmp_path_factory.mktemp("proxy"))
    yield Proxy(port, shard_dbs, proc, config)
    proc.kill()


def direct(database: str) -> pymysql.connections.Connection:
    """A connection straight to MariaDB, to look at what the proxy left on a shard."""
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database, autocommit=True)
