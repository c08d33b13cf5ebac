"""A whole system of real processes with metrics on: a registry, a coordinator using it, two bank participants
and a dbproxy committing across two MariaDB shards with XA; each serves /metrics on a port of its own."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pymysql

from tests.integration.coordinator.cluster import Cluster
from tests.integration.proxy.conftest import proxy_config, start_proxy
from tests.integration.proxy.xa.rig import ACCT, direct
from tests.support import ChildProcess, create_pg_database, free_port, start_process
from txcoord.store.migrations import upgrade


class ObservedSystem:
    def __init__(self, tmp_path: Path, processes: list[ChildProcess], shard_dbs: list[str]) -> None:
        self.log_dir = tmp_path / "logs"
        self.processes = processes
        self.shard_dbs = shard_dbs
        self.metrics: dict[str, str] = {}  # process name -> metrics address
        self.pg_databases: list[str] = []
        self.store = self._pg("txc_obs")
        upgrade(self.store)
        self.cluster = Cluster(tmp_path, processes, self.store)
        self.proxy_service = f"proxy-{uuid.uuid4().hex[:8]}"  # XA RECOVER is server-wide: scope to this run
        self.proxy_port = 0
        for i, db in enumerate(shard_dbs):
            with direct(db).cursor() as cur:
                cur.execute(f"CREATE TABLE acct_{i} (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB")
                cur.executemany(f"INSERT INTO acct_{i} VALUES (%s, 100)", [(k,) for k in range(4) if k % 2 == i])

    def _pg(self, prefix: str) -> str:
        dsn = asyncio.run(create_pg_database(prefix))
        self.pg_databases.append(dsn)
        return dsn

    def _metrics_address(self, name: str) -> str:
        address = self.metrics[name] = f"127.0.0.1:{free_port()}"
        return address

    def start(self, env: dict[str, str] | None = None) -> None:
        registry = f"127.0.0.1:{free_port()}"
        args = ["txc", "registry", "--listen", registry, "--metrics-listen", self._metrics_address("registry")]
        proc = start_process(args, self.log_dir, "registry", env=env)
        self.processes.append(proc)
        proc.wait_serving(registry)
        self.cluster.registry = registry
        _proc, self.coordinator = self.cluster.coordinator(
            "--metrics-listen", self._metrics_address("coordinator"), registry=registry
        )
        self.cluster.registry = registry  # the banks and callers find everything through the registry
        for service, account in (("bank-a", "A"), ("bank-b", "B")):
            self.cluster.bank(
                service, self._pg("txc_obs_bank"), f"{account}=100", "--metrics-listen", self._metrics_address(service)
            )
        self.proxy_port = free_port()
        config: dict[str, Any] = proxy_config(
            self.proxy_port,
            {"ds0": self.shard_dbs[0], "ds1": self.shard_dbs[1]},
            ACCT,
            transactions={
                "coordinator": self.coordinator,
                "registry": registry,
                "service": self.proxy_service,
                "timeout": 10,
                "recovery_interval": 1,
                "registry_ttl": 2,
            },
        )
        config["metrics"] = {"listen": self._metrics_address("dbproxy")}
        self.processes.append(start_proxy(config, self.log_dir, "dbproxy", env=env))

    def mysql(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.proxy_port, user="app", password="secret", database="app", autocommit=True
        )
