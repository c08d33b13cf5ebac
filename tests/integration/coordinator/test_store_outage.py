"""A store outage while transfers and saga starts run: callers get UNAVAILABLE (retryable), the coordinator
logs one line when the outage starts and one when it ends, no traceback; afterwards transfers commit and sagas
start again (issue #7: one outage logged 260 tracebacks; the saga service answered INTERNAL, which callers
do not retry). The outage is real: every connection between the coordinator and its PostgreSQL goes
through a TCP proxy that resets them all, old and new, for a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from chaos.netproxy import Fault, Link
from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient
from sdk.errors import RpcError, TxcError
from tests.integration.coordinator.cluster import Cluster
from tests.integration.coordinator.sagas import LINEAR, trip
from tests.support.databases import PG_HOST, PG_PORT
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


async def test_a_store_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    cluster: Cluster, new_db: NewDb, store: str
) -> None:
    link = Link("coordinator-store", (PG_HOST, PG_PORT))
    await link.start()
    cluster.store = store.replace(f"{PG_HOST}:{PG_PORT}", link.address)
    assert cluster.store != store
    try:
        # starting blocks on health checks: off the event loop, which runs the proxy the coordinator's store needs
        coordinator, address = await asyncio.to_thread(cluster.coordinator)
        bank_a, bank_b = await new_db(), await new_db()
        await asyncio.to_thread(cluster.bank, "bank-a", bank_a, "alice=1000")
        await asyncio.to_thread(cluster.bank, "bank-b", bank_b, "bob=0")
        await asyncio.to_thread(trip, cluster, await new_db())
        client = CoordinatorClient(address, timeout=2.0)  # retries UNAVAILABLE for 2 s, then raises it
        await client.register_saga(LINEAR, "linear.yaml")
        committed = 0
        refused: list[str] = []
        sagas: list[str] = []
        saga_refused: list[str] = []
        running = True

        async def saga_starts() -> None:
            while running:
                try:
                    sagas.append((await client.start_saga("linear", {"user": "ann", "amount": 1})).gid)
                except (RpcError, TxcError) as exc:
                    saga_refused.append(str(exc))
                await asyncio.sleep(0.05)

        async def transfers() -> None:
            nonlocal committed
            while running:
                try:
                    async with client.transaction(timeout=10) as tx:
                        await tx.call(debit.on("bank-a"), account="alice", amount=1)
                        await tx.call(credit.on("bank-b"), account="bob", amount=1)
                    committed += 1
                except (RpcError, TxcError) as exc:
                    refused.append(str(exc))
                    await asyncio.sleep(0.05)

        load = [asyncio.create_task(transfers()) for _ in range(4)] + [asyncio.create_task(saga_starts())]
        try:
            await eventually(lambda: _at_least(lambda: committed, 5), what="transfers before the outage")
            link.set(Fault("reset"))
            before = len(refused)
            saga_before = len(saga_refused)
            await eventually(lambda: _at_least(lambda: len(refused) - before, 4), 60, "refusals during the outage")
            await eventually(lambda: _at_least(lambda: len(saga_refused) - saga_before, 1), 60, "a refused start")
            await eventually(lambda: _logged(coordinator.output, "store unavailable"), what="the outage line")
            await asyncio.sleep(1.0)  # let the outage hit phase 2 and recovery scans too
            link.heal()
            after, sagas_after = committed, len(sagas)
            await eventually(lambda: _at_least(lambda: committed - after, 5), what="transfers after the outage")
            await eventually(lambda: _at_least(lambda: len(sagas) - sagas_after, 3), what="sagas after the outage")
        finally:
            running = False
            for task in load:
                task.cancel()
            for task in load:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.close()
        assert link.stats.resets > 0, link.stats
        assert any("UNAVAILABLE" in text for text in refused), refused[:5]
        assert not any("INTERNAL" in text for text in refused), [t for t in refused if "INTERNAL" in t][:3]
        assert all("UNAVAILABLE" in text for text in saga_refused), saga_refused[:5]
        async with cluster.client() as checker:
            for gid in sagas:  # every start the caller saw succeed runs to its end
                await eventually(lambda gid=gid: _succeeded(checker, gid), what=f"saga {gid} to succeed")
        await eventually(lambda: _logged(coordinator.output, "store available again"), what="the recovery line")
        log = coordinator.output()
        assert log.count("store unavailable") == 1, log[-4000:]
        assert log.count("store available again") == 1, log[-4000:]
        assert "Traceback" not in log, log[-4000:]
        assert "recovery scan failed" not in log, log[-4000:]
    finally:
        await link.close()


async def _succeeded(client: CoordinatorClient, gid: str) -> bool:
    return (await client.saga(gid)).state == "SUCCEEDED"


async def _at_least(value: Callable[[], int], n: int) -> bool:
    return value() >= n


async def _logged(output: Callable[[], str], text: str) -> bool:
    return text in output()
