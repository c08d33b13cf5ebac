"""Registry test fixtures: real `txc registry` processes on the memory or PostgreSQL store, real echo participants."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sdk.registry import RegistryClient
from tests.support import ChildProcess, create_pg_database, drop_pg_database, free_port, start_process
from txcoord.store.migrations import upgrade

StartRegistry = Callable[..., tuple[ChildProcess, str]]
StartEcho = Callable[..., tuple[ChildProcess, str]]


@pytest.fixture
async def registry_pg_dsn() -> AsyncIterator[str]:
    """A fresh PostgreSQL database migrated to head, for one test."""
    dsn = await create_pg_database("txc_registry")
    await asyncio.to_thread(upgrade, dsn)
    yield dsn
    await drop_pg_database(dsn)


@pytest.fixture
def start_registry(processes: list[ChildProcess], tmp_path: Path) -> StartRegistry:
    def start(store: str = "memory", port: int | None = None, name: str = "registry") -> tuple[ChildProcess, str]:
        address = f"127.0.0.1:{port or free_port()}"
        proc = start_process(["txc", "registry", "--listen", address, "--store", store], tmp_path, name)
        processes.append(proc)
        proc.wait_serving(address)
        return proc, address

    return start


@pytest.fixture
def start_echo(processes: list[ChildProcess], tmp_path: Path) -> StartEcho:
    counter = iter(range(1000))

    def start(registry: str, *, ttl: float = 10.0, service: str = "test.Echo") -> tuple[ChildProcess, str]:
        address = f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "tests.support.echo_service", "--listen", address, "--registry", registry]
        proc = start_process([*args, "--ttl", str(ttl), "--service", service], tmp_path, f"echo-{next(counter)}")
        processes.append(proc)
        proc.wait_serving(address)
        return proc, address

    return start


@pytest.fixture
async def registry_client() -> AsyncIterator[Callable[[str], RegistryClient]]:
    clients: list[RegistryClient] = []

    def make(address: str) -> RegistryClient:
        client = RegistryClient(address)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
