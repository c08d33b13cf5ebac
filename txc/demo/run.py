"""`txc demo`: money transfers between two banks through a coordinator, a bank killed half-way.

A coordinator on the embedded PostgreSQL (or ``--store``), two bank participants each with accounts in its
own database, a run of transfers of which some fail in try (insufficient funds), bank-b SIGKILLed and
restarted half-way. Ends with committed / rolled-back counts, balances before and after, and whether the
total is conserved."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from demo.bank import balances
from demo.transfers import BANKS, Outcome, transfer
from sdk import CoordinatorClient
from txc.demo import trips as trip_demo
from txc.demo.metrics import DemoMetrics
from txc.demo.processes import free_address, start_bank, start_coordinator
from txc.demo.sharded import run_sharded
from txc.processes import ChildProcess
from txcoord.store import embedded
from txcoord.store.migrations import upgrade

OPENING_BALANCE = 100
OPEN_STATES = ("BEGIN", "COMMITTING", "ROLLING_BACK")


@dataclass
class DemoSettings:
    store: str | None = None
    data_dir: Path = Path(".txcoord") / "demo-pg"
    log_dir: Path = Path(".txcoord") / "demo-logs"
    transfers: int = 40
    concurrency: int = 4
    seed: int = 7
    proxy: bool = True  # then the sharded part: dbproxy over two MariaDB shards, XA through the coordinator


def server_database_url(url: str, database: str) -> str:
    """``url`` with its database name replaced (keeps query parameters such as a socket ``host``)."""
    return embedded.database_url(url, database)


async def _databases(settings: DemoSettings) -> tuple[str | None, dict[str, str], str]:
    """(coordinator --store or None for embedded, bank database URLs, where it lives)."""
    if settings.store is None:
        server = await asyncio.to_thread(embedded.start, settings.data_dir)
        await embedded.ensure_database(server, "txcoord", recreate=True)  # a fresh log for every demo run
        banks = {
            name: await embedded.ensure_database(server, f"demo_{name.replace('-', '_')}", recreate=True)
            for name in [*BANKS, "trips"]
        }
        return None, banks, f"embedded PostgreSQL in {settings.data_dir}"
    admin = server_database_url(settings.store, "postgres")
    store_db = settings.store.partition("?")[0].rsplit("/", 1)[1]
    await embedded.ensure_database(admin, store_db)  # a demo may name a database that does not exist yet
    banks = {}
    for name in [*BANKS, "trips"]:
        banks[name] = await embedded.ensure_database(admin, f"txc_demo_{name.replace('-', '_')}", recreate=True)
    await asyncio.to_thread(upgrade, settings.store)
    return settings.store, banks, "the PostgreSQL at --store"


async def _snapshot(bank_dbs: dict[str, str]) -> dict[str, dict[str, dict[str, int]]]:
    out = {}
    for name, url in bank_dbs.items():
        conn = await asyncpg.connect(url)
        try:
            out[name] = await balances(conn)
        finally:
            await conn.close()
    return out


def _total(snapshot: dict[str, dict[str, dict[str, int]]]) -> int:
    return sum(acct["balance"] + acct["frozen"] for bank in snapshot.values() for acct in bank.values())


async def _wait_settled(client: CoordinatorClient, timeout: float = 90.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        counts = dict((await client.list(limit=1)).counts)
        if not any(counts.get(state) for state in OPEN_STATES) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.3)


async def run_demo(settings: DemoSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    store, bank_dbs, where = await _databases(settings)
    trips_db = bank_dbs.pop("trips")
    progress(f"databases ready on {where}")
    address = free_address()
    children: list[ChildProcess] = []
    bank_addresses = {name: free_address() for name in BANKS}
    metrics = DemoMetrics()  # every process serves metrics; the summary at the end is scraped from them
    try:
        coordinator = start_coordinator(
            address,
            store,
            settings.log_dir,
            "--scan-interval",
            "0.5",
            "--lease",
            "5",
            *metrics.listen("coordinator"),
            data_dir=settings.data_dir if store is None else None,
        )
        children.append(coordinator)
        await coordinator.serving(address, timeout=60)
        progress(f"coordinator serving on {address}")
        banks: dict[str, ChildProcess] = {}
        for name, accounts in BANKS.items():
            opening = ",".join(f"{acct}={OPENING_BALANCE}" for acct in accounts)
            banks[name] = start_bank(
                name,
                bank_dbs[name],
                address,
                settings.log_dir,
                opening,
                *metrics.listen(name),
                listen=bank_addresses[name],
            )
            children.append(banks[name])
        for name, child in banks.items():
            await child.serving(bank_addresses[name])
        progress("bank-a and bank-b serving and registered")
        progress(f"metrics: {metrics.where()}")
        before = await _snapshot(bank_dbs)

        outcome = Outcome()
        rng = random.Random(settings.seed)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(settings.transfers):
            queue.put_nowait(i)
        halfway = asyncio.Event()
        done = 0

        async with CoordinatorClient(address) as client:

            async def worker() -> None:
                nonlocal done
                while not queue.empty():
                    index = queue.get_nowait()
                    await transfer(client, rng, index, outcome)
                    done += 1
                    if done % 5 == 0 or done == settings.transfers:
                        progress(
                            f"{done}/{settings.transfers} transfers: {outcome.committed} committed, "
                            f"{outcome.rolled_back} rolled back"
                        )
                    if done == settings.transfers // 2:
                        halfway.set()

            async def chaos() -> None:
                await halfway.wait()
                progress("SIGKILL bank-b half-way")
                banks["bank-b"].kill()
                await asyncio.sleep(1.5)
                opening = ",".join(f"{acct}={OPENING_BALANCE}" for acct in BANKS["bank-b"])
                restarted = start_bank(
                    "bank-b",
                    bank_dbs["bank-b"],
                    address,
                    settings.log_dir,
                    opening,
                    *metrics.listen("bank-b"),
                    listen=bank_addresses["bank-b"],
                )
                children.append(restarted)
                await restarted.serving(bank_addresses["bank-b"])
                progress("bank-b restarted")

            chaos_task = asyncio.create_task(chaos())
            await asyncio.gather(*(worker() for _ in range(settings.concurrency)))
            await chaos_task
            progress("waiting for phase 2 to finish everywhere")
            counts = await _wait_settled(client)
        after = await _snapshot(bank_dbs)
        if trip_demo.available():
            trips = await trip_demo.run_trips(address, trips_db, settings.log_dir, progress)
        else:
            trips = {"skipped": f"no examples/sagas next to the package ({trip_demo.EXAMPLES}): run from a checkout"}
        sharded: dict[str, Any] = {"skipped": "--no-proxy"}
        if settings.proxy:
            sharded = await run_sharded(address, settings.log_dir, progress)
        scraped = await asyncio.to_thread(metrics.summary)
    finally:
        for child in reversed(children):
            child.stop()

    total_before, total_after = _total(before), _total(after)
    pending = sum(a["frozen"] + a["incoming"] for bank in after.values() for a in bank.values())
    conserved = total_before == total_after and pending == 0
    return {
        "transfers": settings.transfers,
        "committed": outcome.committed,
        "rolled_back": outcome.rolled_back,
        "coordinator_counts": counts,
        "unreachable_tries": outcome.errors,
        "balances_before": {bank: {a: v["balance"] for a, v in accts.items()} for bank, accts in before.items()},
        "balances_after": {bank: {a: v["balance"] for a, v in accts.items()} for bank, accts in after.items()},
        "total_before": total_before,
        "total_after": total_after,
        "in_flight_after": pending,
        "conserved": conserved,
        "trips": trips,
        "store": where,
        "seconds": round(time.monotonic() - started, 1),
        "logs": str(settings.log_dir),
        "sharded": sharded,
        "metrics": scraped,
    }
