"""`txc demo`: money transfers between two banks through a coordinator, a bank killed half-way.

A coordinator on the embedded PostgreSQL (or ``--store``), two bank participants each with accounts in its
own database, a run of transfers of which some fail in try (insufficient funds), bank-b SIGKILLed and
restarted half-way. Ends with committed / rolled-back counts, balances before and after, and whether the
total is conserved."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from demo import bank as demo_bank
from demo.bank import balances
from demo.transfers import BANKS, Outcome, transfer
from sdk import CoordinatorClient
from sdk.errors import ConfigError
from sdk.processes import ChildProcess, free_address, txc_command
from txc.demo import trips as trip_demo
from txc.demo.metrics import DemoMetrics
from txc.demo.sharded import run_sharded
from txcoord.store import embedded
from txcoord.store.migrations import upgrade

OPENING_BALANCE = 100
OPEN_STATES = ("BEGIN", "COMMITTING", "ROLLING_BACK")
PARTS = frozenset({"transfers", "trips", "sharded"})


@dataclass
class DemoSettings:
    store: str | None = None
    data_dir: Path = Path(".txcoord") / "demo-pg"
    log_dir: Path = Path(".txcoord") / "demo-logs"
    transfers: int = 40
    concurrency: int = 4
    seed: int = 7
    # transfers: two banks, one killed half-way; trips: sagas; sharded: dbproxy over two MariaDB shards with XA
    parts: frozenset[str] = PARTS
    console: bool = False  # afterwards, keep the system running with `txc console` open on it (until Ctrl-C)


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


async def run_demo(
    settings: DemoSettings,
    progress: Callable[[str], None],
    report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the parts and return their summary. With ``settings.console``, ``report`` gets the summary once the
    parts are done, then the coordinator and the participants keep running with a console open on them
    until the demo is interrupted."""
    started = time.monotonic()
    store, bank_dbs, where = await _databases(settings)
    trips_db = bank_dbs.pop("trips")
    progress(f"databases ready on {where}")
    address = free_address()
    metrics = DemoMetrics()  # every process serves metrics; the summary at the end is scraped from them
    args = ["coordinator", "--listen", address, "--scan-interval", "0.5", "--lease", "5"]
    args += ["--store", store] if store is not None else ["--data-dir", str(settings.data_dir)]
    args += metrics.listen("coordinator")
    coordinator = ChildProcess(txc_command(*args), settings.log_dir / "coordinator.log", address=address)
    children = [coordinator]  # stopped at the end; with the console, only once the demo is interrupted
    summary: dict[str, Any] = {"parts": sorted(settings.parts), "store": where, "logs": str(settings.log_dir)}
    try:
        await coordinator.serving(timeout=60)
        progress(f"coordinator serving on {address}")
        if "transfers" in settings.parts:
            summary |= await _transfers(settings, address, bank_dbs, progress, metrics, children)
        if "trips" in settings.parts:
            keep = children if settings.console else None  # else the trip participants stop when done
            summary["trips"] = await trip_demo.run_trips(address, trips_db, settings.log_dir, progress, keep)
        summary["sharded"] = {"skipped": "not asked for"}
        if "sharded" in settings.parts:
            summary["sharded"] = await run_sharded(address, settings.log_dir, progress)
        summary["metrics"] = await asyncio.to_thread(metrics.summary)
        summary["seconds"] = round(time.monotonic() - started, 1)
        if settings.console:
            if report is not None:
                report(summary)
            await _hold_with_console(address, settings.log_dir, progress, children)
    finally:
        for child in reversed(children):
            child.stop()
    return summary


async def _hold_with_console(
    address: str, log_dir: Path, progress: Callable[[str], None], kept: list[ChildProcess]
) -> None:
    """`txc console` on the demo's coordinator, with an admin token made for this run; wait to be interrupted."""
    token = secrets.token_urlsafe(16)
    listen = free_address()
    command = txc_command("console", "--listen", listen, "--coordinator", address)
    console = ChildProcess(command, log_dir / "console.log", {"TXC_TOKEN": token})
    kept.append(console)
    deadline = time.monotonic() + 60
    while not await _answers(f"http://{listen}/registry"):
        if not console.alive() or time.monotonic() > deadline:
            raise ConfigError(f"the console did not start; its log: {log_dir / 'console.log'}")
        await asyncio.sleep(0.2)
    progress(f"console open on http://{listen}/")
    progress(f"the console's admin token (to log in and act): {token}")
    progress("Ctrl-C ends the demo")
    await asyncio.Event().wait()


async def _answers(url: str) -> bool:
    def get() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    return await asyncio.to_thread(get)


async def _transfers(
    settings: DemoSettings,
    address: str,
    bank_dbs: dict[str, str],
    progress: Callable[[str], None],
    metrics: DemoMetrics,
    children: list[ChildProcess],
) -> dict[str, Any]:
    """Transfers between the two banks, bank-b SIGKILLed and restarted half-way; balances before and after. The
    banks join ``children`` (stopped by the caller once it has scraped their metrics)."""
    banks: dict[str, ChildProcess] = {}
    for name, accounts in BANKS.items():
        opening = ",".join(f"{acct}={OPENING_BALANCE}" for acct in accounts)
        listen = free_address()
        command = demo_bank.command(name, bank_dbs[name], address, listen, opening, *metrics.listen(name))
        banks[name] = ChildProcess(command, settings.log_dir / f"{name}.log", address=listen)
        children.append(banks[name])
    for child in banks.values():
        await child.serving()
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

        async def crash() -> None:
            await halfway.wait()
            progress("SIGKILL bank-b half-way")
            banks["bank-b"].kill()
            await asyncio.sleep(1.5)
            await banks["bank-b"].restart(timeout=30)  # same arguments, same port
            progress("bank-b restarted")

        crash_task = asyncio.create_task(crash())
        await asyncio.gather(*(worker() for _ in range(settings.concurrency)))
        await crash_task
        progress("waiting for phase 2 to finish everywhere")
        counts = await _wait_settled(client)
    after = await _snapshot(bank_dbs)

    total_before, total_after = _total(before), _total(after)
    pending = sum(a["frozen"] + a["incoming"] for bank in after.values() for a in bank.values())
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
        "conserved": total_before == total_after and pending == 0,
    }
