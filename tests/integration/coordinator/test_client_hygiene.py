"""A client that does its work and closes leaves nothing behind on stderr: no ``Task was destroyed but it is
pending!``, no ``aclose(): asynchronous generator is already running``, no traceback, no warning for a rollback
of a transaction that never began (issue #7's admin and SDK rough edges)."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable

import pytest

from sdk.coordinator_client import CoordinatorClient
from tests.integration.coordinator.cluster import Cluster
from tests.support.ports import free_port

NewDb = Callable[..., Awaitable[str]]

_CLIENT = textwrap.dedent(
    """
    import asyncio, logging, sys
    from sdk.coordinator_client import CoordinatorClient
    from demo.bank import credit, debit

    async def main(address: str) -> None:
        client = CoordinatorClient(address, timeout=3.0)
        async with client.transaction(timeout=30) as tx:
            await tx.call(debit.on("bank-a"), account="alice", amount=1)
            await tx.call(credit.on("bank-b"), account="bob", amount=1)
        print("state", tx.state)
        try:
            async with client.transaction(timeout=30):
                raise KeyError("nothing was begun")
        except KeyError:
            print("rolled back before any branch")
        try:
            async with client.transaction(timeout=30) as tx:
                await tx.call(debit.on("nobody-serves-this"), account="alice", amount=1)
        except Exception as exc:
            print("ghost failed", type(exc).__name__)
        try:  # refused at registration: nothing was ever begun, so the rollback has nothing to do
            async with client.transaction(timeout=30) as tx:
                await tx.call(debit.on("not a service name!"), account="alice", amount=1)
        except Exception as exc:
            print("invalid failed", type(exc).__name__, exc)
        await client.close()

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1]))
    """
)


async def test_a_closed_client_leaves_a_clean_stderr(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    cluster.bank("bank-a", await new_db(), "alice=10")
    cluster.bank("bank-b", await new_db(), "bob=0")
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, address], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "state COMMITT" in done.stdout
    assert "ghost failed" in done.stdout
    assert "invalid failed" in done.stdout and "INVALID_ARGUMENT" in done.stdout
    assert "rolled back before any branch" in done.stdout
    for noise in ("Task was destroyed", "aclose()", "Traceback", "WARNING", "fork_posix"):
        assert noise not in done.stderr, f"{noise!r} on the client's stderr:\n{done.stderr}"


async def test_a_session_broken_by_a_coordinator_crash_leaves_no_pending_task(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The session stream dies with its coordinator (while a request is on its way, then while idle); the
    client opens a new one. The old stream's request generator must end with it, not wait forever on a queue
    nobody feeds (that pending task is what
    printed ``Task was destroyed but it is pending!`` and ``aclose(): ... already running`` at exit)."""
    port = free_port()
    proc, address = cluster.coordinator(port=port)
    client = CoordinatorClient(address, timeout=15.0)
    try:
        async with client.transaction(timeout=30) as tx:
            pass
        assert tx.state == "COMMITTED"
        await client.begin("hygiene-1", 30)
        proc.kill()
        proc, _ = cluster.coordinator(port=port)
        assert await client.begin("hygiene-2", 30) == "BEGIN"  # over a new session stream
        proc.kill()  # this time the stream is idle when it dies: no request comes to end its generator
        await asyncio.sleep(1.0)
        cluster.coordinator(port=port)
        assert await client.begin("hygiene-3", 30) == "BEGIN"
    finally:
        await client.close()
    del client
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0.1)
        gc.collect()
    noise = [r.getMessage() for r in caplog.records if "destroyed" in r.getMessage() or "aclose" in r.getMessage()]
    assert not noise, noise
