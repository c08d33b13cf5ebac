"""`txc bench saga`: a 3-step saga run by the coordinator vs the same 3 actions called directly.

32 concurrent clients (coroutines of this process) each start a saga with ``wait`` and wait for its end.
The steps (flight → hotel → payment) are served by one trip participant process (``examples/sagas/trip.py``),
each action one SQL statement inside the barrier on the participant's own PostgreSQL database. The baseline, in
the same run, calls the same three actions directly, one after the other, through the same barrier."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path
from typing import Any

import psutil

from bench.tcc import BenchSettings, CpuMeter, Run, _drive, _embedded_postmaster
from sdk.coordinator_client import CoordinatorClient, new_gid
from sdk.rpc import ChannelPool
from sdk.saga.wire import action_body
from txc.demo.processes import free_address, spawn, start_coordinator
from txc.processes import ChildProcess
from txcoord.store import embedded

TRIP = Path(__file__).resolve().parents[1] / "examples" / "sagas" / "trip.py"
SERVICES = ("trip-flights", "trip-hotels", "trip-payments")
SAGA = """
name: bench_trip
version: 1
timeout: 60s
input:
  type: object
  required: [user, amount]
  properties:
    user: {type: string}
    amount: {type: integer}
steps:
  - id: flight
    action: trip-flights.book
    compensate: trip-flights.cancel
    input: {user: "${input.user}", city: Lisbon}
  - id: hotel
    action: trip-hotels.book
    compensate: trip-hotels.cancel
    input: {user: "${input.user}", flight: "${steps.flight.output.booking_id}"}
  - id: payment
    action: trip-payments.charge
    compensate: trip-payments.refund
    input: {user: "${input.user}", amount: "${input.amount}"}
"""


async def _databases(settings: BenchSettings) -> tuple[str, str]:
    server = settings.server if settings.server else await asyncio.to_thread(embedded.start, settings.data_dir)
    admin = embedded.database_url(server, "postgres")
    coord = await embedded.ensure_database(admin, "txc_bench_saga_coordinator", recreate=True)
    trip = await embedded.ensure_database(admin, "txc_bench_saga_trip", recreate=True)
    from txcoord.store.migrations import upgrade

    await asyncio.to_thread(upgrade, coord)
    return coord, trip


async def _saga_run(settings: BenchSettings, client: CoordinatorClient, meter: CpuMeter | None, bad: list[str]) -> Run:
    async def one(rng: random.Random) -> None:
        result = await client.start_saga("bench_trip", {"user": f"u{rng.randrange(10**6)}", "amount": 1}, wait=True)
        if result.state != "SUCCEEDED":
            bad.append(f"{result.gid}: {result.state} {result.error}")
            raise RuntimeError(result.error)

    await one(random.Random(0))  # warm the channels and the coordinator's registry watch
    return await _drive(settings, one, meter)


async def _direct_run(settings: BenchSettings, pool: ChannelPool, address: str, meter: CpuMeter | None) -> Run:
    async def one(rng: random.Random) -> None:
        gid, user = new_gid(), f"u{rng.randrange(10**6)}"
        flight = await pool.invoke_json(
            address, "trip-flights", "book", action_body(gid, "flight", {"user": user, "city": "Lisbon"})
        )
        booking = flight["result"]["booking_id"]
        await pool.invoke_json(
            address, "trip-hotels", "book", action_body(gid, "hotel", {"user": user, "flight": booking})
        )
        await pool.invoke_json(
            address, "trip-payments", "charge", action_body(gid, "payment", {"user": user, "amount": 1})
        )

    return await _drive(settings, one, meter)


async def run_bench(settings: BenchSettings, progress: Any = print) -> dict[str, Any]:
    coord_db, trip_db = await _databases(settings)
    address, trip_address = free_address(), free_address()
    children: list[ChildProcess] = []
    bad: list[str] = []
    try:
        coordinator = start_coordinator(address, coord_db, settings.log_dir, *settings.coordinator_args)
        children.append(coordinator)
        await coordinator.serving(address, timeout=60)
        args = [sys.executable, str(TRIP), "--db", trip_db, "--registry", address, "--listen", trip_address]
        args += ["--no-audit", *(arg for s in SERVICES for arg in ("--service", s))]
        participant = spawn("trip", args, settings.log_dir)
        children.append(participant)
        await participant.serving(trip_address, timeout=60)
        progress(f"bench: coordinator {address}, trip participant {trip_address}; {settings.clients} clients")

        proc = psutil.Process(coordinator.pid)
        peak_rss = proc.memory_info().rss
        sampling = True

        async def sample() -> None:
            nonlocal peak_rss
            while sampling:
                peak_rss = max(peak_rss, proc.memory_info().rss)
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        groups = {"client": [os.getpid()], "coordinator": [coordinator.pid], "participant": [participant.pid]}
        postmaster = _embedded_postmaster(settings)
        if postmaster is not None:
            groups["postgres"] = [postmaster]
        meter = CpuMeter(groups, without_children=("client",))
        direct, sagas = Run(), Run()
        pool = ChannelPool()
        client = CoordinatorClient(address, session=False)
        try:
            await client.register_saga(SAGA, "bench_trip.yaml")
            for round_no in range(1, settings.rounds + 1):
                progress(f"bench: round {round_no}/{settings.rounds}: baseline (direct calls), {settings.seconds}s")
                direct.add(await _direct_run(settings, pool, trip_address, meter))
                progress(
                    f"bench: round {round_no}/{settings.rounds}: sagas through the coordinator, {settings.seconds}s"
                )
                sagas.add(await _saga_run(settings, client, meter, bad))
        finally:
            await client.close()
            await pool.close()
            sampling = False
            await sampler
    finally:
        for child in reversed(children):
            child.stop()
    saga_summary, direct_summary = sagas.summary(), direct.summary()
    ratio = round(saga_summary["txn_per_s"] / direct_summary["txn_per_s"], 2) if direct_summary["txn_per_s"] else 0
    return {
        "clients": settings.clients,
        "seconds": settings.seconds,
        "rounds": settings.rounds,
        "saga": saga_summary,
        "baseline": direct_summary,
        "ratio": ratio,
        "coordinator_peak_rss_mb": round(peak_rss / 2**20, 1),
        "not_succeeded": bad[:5],
        "cpu_count": os.cpu_count(),
        "logs": str(settings.log_dir),
        "note": "every process of the benchmark shares this machine, and other work on it skews the numbers",
    }


def report(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"txc bench saga: {summary['clients']} concurrent 3-step sagas (--wait), {summary['rounds']} rounds "
        f"of {summary['seconds']}s, median sagas/s"
    )
    for column in ("run", "sagas/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right" if column != "run" else "left")
    for name, key in (("through coordinator", "saga"), ("baseline (direct calls)", "baseline")):
        r = summary[key]
        table.add_row(name, str(r["txn_per_s"]), str(r["p50_ms"]), str(r["p99_ms"]), str(r["errors"]))
    console = Console()
    console.print(table)
    for key in ("saga", "baseline"):
        cpu = summary[key]["cpu_ms_per_txn"]
        console.print(f"CPU ms per saga, {key}: " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    console.print(
        f"ratio {summary['ratio']} (target >= 0.6); coordinator peak RSS {summary['coordinator_peak_rss_mb']} MB "
        f"(target <= 300); {summary['note']}"
    )
