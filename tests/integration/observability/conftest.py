"""One observed system per module (starting five processes is the slow part); the tests read what it exported."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.observability.rig import ObservedSystem
from tests.support import ChildProcess, create_mariadb_database, drop_mariadb_database, drop_pg_database


@pytest.fixture(scope="module")
def observed_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedSystem]:
    shards = [create_mariadb_database("txc_obs") for _ in range(2)]
    processes: list[ChildProcess] = []
    system = None
    try:
        system = ObservedSystem(tmp_path_factory.mktemp("observed"), processes, shards)
        system.start()
        yield system
    finally:
        for proc in processes:
            if proc.alive():
                proc.kill()
        for name in shards:
            drop_mariadb_database(name)
        for dsn in system.pg_databases if system is not None else []:
            asyncio.run(drop_pg_database(dsn))
