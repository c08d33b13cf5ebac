"""`txc bench saga`: a 3-step saga run by the coordinator vs the same 3 actions called directly.

32 concurrent clients (coroutines of this process) each start a saga with ``wait`` and wait for its end.
The steps (flight → hotel → payment) are served by one trip participant process (``examples/sagas/trip.py``),
each action one SQL statement inside the barrier on the participant's own PostgreSQL database. The baseline, in
the same run, calls the same three actions directly, one after the other, through the same barrier."""

from __future__ import annotations

import os
import random
from importlib import resources
from pathlib import Path
from typing import Any

from bench.harness import BenchSettings, CpuMeter, PeakRss, Run, databases, drive, process_groups, start_coordinator
from sdk.coordinator_client import CoordinatorClient, new_gid
from sdk.processes import ChildProcess, free_address, python_command
from sdk.rpc import ChannelPool
from sdk.saga.wire import action_body

SERVICES = ("trip-flights", "trip-hotels", "trip-payments")
SAGA = "linear"  # examples/sagas/linear.yaml, which the saga tests run too


def _examples() -> Path:
    """``examples/sagas``: package data of ``txcoord.examples`` (pyproject.toml)."""
    return Path(str(resources.files("txcoord.examples"))) / "sagas"


async def _saga_run(settings: BenchSettings, client: CoordinatorClient, meter: CpuMeter | None, bad: list[str]) -> Run:
    async def one(rng: random.Random) -> None:
        result = await client.start_saga(SAGA, {"user": f"u{rng.randrange(10**6)}", "amount": 1}, wait=True)
        if result.state != "SUCCEEDED":
            bad.append(f"{result.gid}: {result.state} {result.error}")
            raise RuntimeError(result.error)

    await one(random.Random(0))  # warm the channels and the coordinator's registry watch
    return await drive(settings, one, meter)


async def _direct_run(settings: BenchSettings, pool: ChannelPool, address: str, meter: CpuMeter | None) -> Run:
    async def one(rng: random.Random) -> None:
        gid, user = new_gid(), f"u{rng.randrange(10**6)}"
        flight = await pool.invoke_json(
            address, "trip-flights", "book", action_body(gid, "flight", {"user": user, "city": "Lisbon"})
        )
        booking = flight["result"]["booking_id"]
        hotel = await pool.invoke_json(
            address, "trip-hotels", "book", action_body(gid, "hotel", {"user": user, "flight": booking})
        )
        payment = {"user": user, "amount": 1, "items": [booking, hotel["result"]["booking_id"]]}
        await pool.invoke_json(address, "trip-payments", "charge", action_body(gid, "payment", payment))

    return await drive(settings, one, meter)


async def run_bench(settings: BenchSettings, progress: Any = print) -> dict[str, Any]:
    coord_db, trip_db = await databases(settings, "txc_bench_saga_coordinator", "txc_bench_saga_trip")
    address, trip_address = free_address(), free_address()
    children: list[ChildProcess] = []
    bad: list[str] = []
    try:
        coordinator = start_coordinator(address, coord_db, settings)
        children.append(coordinator)
        await coordinator.serving(timeout=60)
        args = [str(_examples() / "trip.py"), "--db", trip_db, "--registry", address, "--listen", trip_address]
        args += ["--no-audit", *(arg for s in SERVICES for arg in ("--service", s))]
        participant = ChildProcess(python_command(*args), settings.log_dir / "trip.log", address=trip_address)
        children.append(participant)
        await participant.serving(timeout=60)
        progress(f"bench: coordinator {address}, trip participant {trip_address}; {settings.clients} clients")
        meter = process_groups(coordinator.pid, {"participant": [participant.pid]}, settings)
        direct, sagas = Run(), Run()
        pool = ChannelPool()
        client = CoordinatorClient(address, session=False)
        try:
            async with PeakRss(coordinator.pid) as memory:
                await client.register_saga((_examples() / f"{SAGA}.yaml").read_text(), f"{SAGA}.yaml")
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
        "coordinator_peak_rss_mb": memory.mb,
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
