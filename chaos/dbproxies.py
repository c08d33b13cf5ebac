"""dbproxy instances in a chaos system: a logical database sharded over physical databases of the harness's
MariaDB, served by several proxy instances that commit multi-shard transactions with XA branches decided in a
backend and reported to the coordinators. Every connection of a proxy goes through a fault link: client→proxy,
proxy→each backend, proxy→each coordinator, and coordinators→proxy (the address it registers is its link's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiomysql
import yaml

from sdk.processes import ChildProcess, free_port, script_command

if TYPE_CHECKING:
    from chaos.system import System

SERVICE = "chaos-proxy"  # every instance registers under this name: any of them finishes any branch


@dataclass
class ProxySpec:
    """What a workload asks of the proxies. ``sharded`` maps each logical table to its shard column (``mod``
    over the shards; shard ``i`` keeps ``<table>_<i>`` in the physical database ``<database>_<i>``);
    ``setup[i]`` are the statements run directly in physical database ``i`` before the proxies start."""

    database: str
    shards: int
    sharded: dict[str, str]
    setup: list[list[str]]
    instances: int = 2
    user: str = "chaos"
    password: str = "chaos"
    settings: dict[str, Any] = field(default_factory=dict)  # extra `transactions:` settings

    def physical(self, shard: int) -> str:
        return f"{self.database}_{shard}"


async def create_shards(system: System, spec: ProxySpec) -> None:
    assert system.mysql is not None
    conn = await aiomysql.connect(host="127.0.0.1", port=system.mysql.port, user="root", autocommit=True)
    try:
        async with conn.cursor() as cur:
            for shard, statements in enumerate(spec.setup):
                await cur.execute(f"CREATE DATABASE `{spec.physical(shard)}`")
                await cur.execute(f"USE `{spec.physical(shard)}`")
                for statement in statements:
                    await cur.execute(statement)
    finally:
        conn.close()


async def start_dbproxies(system: System, spec: ProxySpec, tx_timeout: float) -> None:
    assert system.mysql is not None
    await create_shards(system, spec)
    for k in range(1, spec.instances + 1):
        name = f"proxy-{k}"
        mysql_port, grpc_port = free_port(), free_port()
        await system.link(f"client->{name}", mysql_port)
        phase2 = await system.link(f"coords->{name}", grpc_port)
        coordinators = []
        # instance k reports to coordinator k first and fails over to the next (the list also serves as the
        # registry's addresses), so killing either coordinator hits some proxy's reports
        turn = (k - 1) % len(system.coordinators)
        for coordinator in [*system.coordinators[turn:], *system.coordinators[:turn]]:
            port = int(str(coordinator.address).rpartition(":")[2])
            coordinators.append((await system.link(f"{name}->{coordinator.name}", port)).address)
        backends = {}
        for shard in range(spec.shards):
            link = await system.link(f"{name}->shard{shard}", system.mysql.port)
            backends[f"ds{shard}"] = f"mysql://root:@{link.address}/{spec.physical(shard)}"
        config = {
            "listen": f"127.0.0.1:{mysql_port}",
            "users": {spec.user: spec.password},
            "backends": backends,
            "databases": {
                spec.database: {
                    "default_backend": "ds0",
                    "sharded_tables": {
                        table: {
                            "column": column,
                            "algorithm": "mod",
                            "nodes": [f"ds{i}.{table}_{i}" for i in range(spec.shards)],
                        }
                        for table, column in spec.sharded.items()
                    },
                }
            },
            "pool": {"connect_timeout": 2.0, "lock_wait_timeout": 3},
            "transactions": {
                "coordinator": ",".join(coordinators),
                "service": SERVICE,
                "listen": f"127.0.0.1:{grpc_port}",
                "advertise": phase2.address,
                "timeout": tx_timeout,
                "recovery_interval": 1,
                "registry_ttl": 3,
                "cross_backend_lock_wait": 2,
                **spec.settings,
            },
        }
        path = system.log_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        # gRPC health is checked on the proxy's own phase-2 listener, not through its link
        command = [*script_command("dbproxy", "dbproxy.main"), "--config", str(path)]
        proc = ChildProcess(command, system.log_dir / f"{name}.log", address=f"127.0.0.1:{grpc_port}")
        system.dbproxies.append(proc)
    for proc in system.dbproxies:
        await proc.serving(timeout=60)


def client_fronts(system: System) -> list[tuple[str, int]]:
    """Where clients reach each proxy instance: the links in front of their MySQL listeners."""
    return [("127.0.0.1", system.links[f"client->{p.name}"].port) for p in system.dbproxies]
