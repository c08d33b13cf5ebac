"""Fixtures of the XA tests: two fresh shard databases and a coordinator per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy.xa.rig import XaRig
from tests.support import ChildProcess, drop_pg_database, mariadb_databases


@pytest.fixture
def xa_shards() -> Iterator[list[str]]:
    with mariadb_databases("txc_xa", 2) as names:
        yield names


@pytest.fixture
def rig(tmp_path: Path, processes: list[ChildProcess], xa_shards: list[str]) -> Iterator[XaRig]:
    rig = XaRig(tmp_path, processes, xa_shards)
    try:
        rig.start_coordinator()
        rig.seed({0: 100, 1: 100, 2: 100, 3: 100})
        yield rig
    finally:
        rig.rollback_prepared()
        rig.drop_decisions()
        asyncio.run(drop_pg_database(rig.store))  # the coordinators' store (they are killed after this)
