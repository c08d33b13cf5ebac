"""One observed system for the package (starting five processes is the slow part), one known workload run on it
and every server scraped after; the tests read what it exported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from demo.bank import credit, debit
from sdk import CoordinatorClient, TryFailed
from tests.integration.coordinator.cluster import states
from tests.integration.observability.otlp_receiver import OtlpReceiver
from tests.integration.observability.rig import ObservedSystem
from tests.integration.observability.scrape import Sample, scrape, value
from tests.support import (
    ChildProcess,
    create_mariadb_database,
    create_pg_database,
    drop_mariadb_database,
    drop_pg_database,
)
from tests.support.polling import wait_until


@pytest.fixture(scope="package")
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


COMMITTED, ROLLED_BACK, XA_TRANSFERS = 20, 5, 3


async def _tcc_workload(system: ObservedSystem) -> list[str]:
    gids = []
    async with CoordinatorClient(system.coordinator, registry=system.cluster.registry, timeout=10.0) as client:
        for _ in range(COMMITTED):
            async with client.transaction(timeout=20) as tx:
                await tx.call(debit.on("bank-a"), account="A", amount=1)
                await tx.call(credit.on("bank-b"), account="B", amount=1)
            gids.append(tx.gid)
        for _ in range(ROLLED_BACK):
            tx = client.transaction(timeout=20)
            with pytest.raises(TryFailed):
                async with tx:
                    await tx.call(debit.on("bank-a"), account="A", amount=1000)  # A cannot pay: the try fails
            gids.append(tx.gid)
    return gids


def _proxy_workload(system: ObservedSystem) -> None:
    conn = system.mysql()
    with conn.cursor() as cur:
        for _ in range(XA_TRANSFERS):  # ids 0 and 1 live on different shards: two-phase commit through XA
            cur.execute("BEGIN")
            cur.execute("UPDATE acct SET balance = balance - 1 WHERE id = 0")
            cur.execute("UPDATE acct SET balance = balance + 1 WHERE id = 1")
            cur.execute("COMMIT")
        with pytest.raises(Exception, match=r"1142|1044|denied"):  # refused by the proxy's confinement
            cur.execute("SELECT * FROM mysql.user")
    conn.close()


@pytest.fixture(scope="package")
def workload(observed_system: ObservedSystem) -> dict[str, list[Sample]]:
    """Run the workload once, wait until the store holds every transaction finished, scrape every server."""
    system = observed_system
    connections_before = value(scrape(system.metrics["dbproxy"]), "dbproxy_connections_total")  # its readiness probe
    gids = asyncio.run(_tcc_workload(system))
    _proxy_workload(system)
    expected = {"COMMITTED": COMMITTED + XA_TRANSFERS, "ROLLED_BACK": ROLLED_BACK}
    wait_until(lambda: asyncio.run(states(system.store)) == expected, 60, f"the store to hold {expected}")
    wait_until(
        lambda: (
            value(scrape(system.metrics["coordinator"]), "txc_transactions_finished_total")
            == COMMITTED + ROLLED_BACK + XA_TRANSFERS
        ),
        30,
        "the coordinator to count every finished transaction",
    )
    scraped = {name: scrape(address) for name, address in system.metrics.items()}
    scraped["proxy connections before"] = [Sample("dbproxy_connections_total", {}, connections_before)]
    system.gids = gids  # type: ignore[attr-defined]
    return scraped


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver for one test's spans."""
    found = OtlpReceiver()
    yield found
    found.close()


@pytest.fixture
async def databases() -> AsyncIterator[list[str]]:
    """Three PostgreSQL databases for one test."""
    made = [await create_pg_database("txc_trace") for _ in range(3)]
    yield made
    for dsn in made:
        await drop_pg_database(dsn)
