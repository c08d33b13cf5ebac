"""What every benchmark of ``txc bench`` shares: settings, the client loop (warm-up, then measured), latency
percentiles, CPU per process group, the coordinator's peak memory, and printing a summary as a table or JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sdk.processes import ChildProcess, txc_command


@dataclass
class BenchSettings:
    """What a client-loop benchmark (tcc, saga) is asked for."""

    clients: int = 32
    seconds: float = 10.0
    warmup: float = 2.0
    server: str | None = None  # a PostgreSQL server URL (any database); None: embedded
    data_dir: Path = Path(".txcoord") / "bench-pg"
    log_dir: Path = Path(".txcoord") / "bench-logs"
    coordinator_args: tuple[str, ...] = ()
    bank_args: tuple[str, ...] = ()  # extra flags of both banks (e.g. --metrics-listen)
    rounds: int = 3  # baseline and coordinator runs alternate this many times
    session: bool = True  # caller -> coordinator over one bidi stream (False: unary calls)
    signed: bool = True  # branch signatures on (a fresh TXC_BRANCH_KEY for every process); False: off
    secure: bool = False  # TLS everywhere and one identity per process from a credentials file (bench.secure)
    protocol: str = "grpc"  # "http": also both participants over HTTP/JSON (ASGI under uvicorn), same run


@dataclass
class Run:
    """What one run measured: a latency per finished operation, errors, and CPU seconds per process group."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    rates: list[float] = field(default_factory=list)  # operations/s of each round
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group, measured rounds only

    def add(self, other: Run) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.rates.append(len(other.latencies) / other.elapsed if other.elapsed else 0.0)
        for name, seconds in other.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {
            "txn": n,
            "errors": self.errors,
            # machine-independent cost: CPU milliseconds per transaction in each group of processes
            "cpu_ms_per_txn": {k: round(v * 1000 / n, 2) for k, v in sorted(self.cpu.items())} if n else {},
            # the median round: rounds alternate with the other run, so a burst of load elsewhere on the
            # machine hits one round of each rather than all of one run
            "txn_per_s": round(statistics.median(self.rates), 1) if self.rates else 0.0,
            "txn_per_s_rounds": [round(r, 1) for r in self.rates],
            "p50_ms": percentile_ms(self.latencies, 0.50),
            "p99_ms": percentile_ms(self.latencies, 0.99),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if n else 0.0,
        }


def percentile_ms(latencies: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of latencies in seconds, in milliseconds."""
    ordered = sorted(latencies)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else 0.0


def cpu_halves() -> tuple[set[int], set[int]] | None:
    """The CPUs this process may use, split in two halves (None with fewer than two)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    middle = len(cpus) // 2
    return set(cpus[:middle]), set(cpus[middle:])


def pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of process ``pid`` (and the threads it starts later) on ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)


def pinned_command(command: list[str], cpus: set[int] | None) -> list[str]:
    """``command`` started on ``cpus`` (``taskset``: its threads never run elsewhere, from their first instruction)."""
    return command if cpus is None else ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]


class CpuMeter:
    """CPU seconds used by groups of processes (and their children, e.g. PostgreSQL backends)."""

    def __init__(self, groups: dict[str, list[int]], *, without_children: tuple[str, ...] = ()) -> None:
        self.groups = {name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()}
        self.without_children = set(without_children)

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, procs in self.groups.items():
            total = 0.0
            for proc in procs:
                try:
                    family = [proc] if name in self.without_children else [proc, *proc.children(recursive=True)]
                except psutil.Error:
                    continue
                for member in family:
                    try:
                        times = member.cpu_times()
                    except psutil.Error:
                        continue
                    total += times.user + times.system
                    if name not in self.without_children:
                        # children that ended (PostgreSQL's autovacuum workers, say) are added to their parent
                        # once reaped: without this, a child ending mid-run takes its CPU with it
                        total += times.children_user + times.children_system
            out[name] = total
        return out


async def drive(
    settings: BenchSettings, one: Callable[[random.Random], Awaitable[object]], meter: CpuMeter | None = None
) -> Run:
    """Run ``one(rng)`` in ``clients`` loops: ``warmup`` seconds unmeasured, then ``seconds`` measured."""
    run = Run()
    loop = asyncio.get_running_loop()
    start_measure = loop.time() + settings.warmup
    stop = start_measure + settings.seconds

    async def measure() -> None:
        await asyncio.sleep(max(0.0, start_measure - loop.time()))
        before = meter.read() if meter else {}
        await asyncio.sleep(max(0.0, stop - loop.time()))
        if meter:
            run.cpu = {k: v - before.get(k, 0.0) for k, v in meter.read().items()}

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while (now := loop.time()) < stop:
            try:
                await one(rng)
            except Exception:
                if now >= start_measure:
                    run.errors += 1
                continue
            if now >= start_measure and loop.time() <= stop:
                run.latencies.append(loop.time() - now)

    await asyncio.gather(measure(), *(client(i) for i in range(settings.clients)))
    run.elapsed = settings.seconds
    return run


class PeakRss:
    """The largest resident set size a process reached while sampled (``async with`` around the runs)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = self.process.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def mb(self) -> float:
        return round(self.peak / 2**20, 1)


def embedded_postmaster(settings: BenchSettings) -> int | None:
    """The embedded server's postmaster pid (its backends are its children); None on an outside server."""
    if settings.server:
        return None
    try:
        return int((settings.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def databases(settings: BenchSettings, coordinator: str, *others: str) -> list[str]:
    """Fresh databases on the bench's PostgreSQL (embedded unless ``settings.server``): the coordinator's, brought
    to the current schema, then ``others``."""
    from txcoord.store import embedded
    from txcoord.store.migrations import upgrade

    server = settings.server if settings.server else await asyncio.to_thread(embedded.start, settings.data_dir)
    admin = embedded.database_url(server, "postgres")
    urls = [await embedded.ensure_database(admin, name, recreate=True) for name in (coordinator, *others)]
    await asyncio.to_thread(upgrade, urls[0])
    return urls


def start_coordinator(
    address: str, store: str, settings: BenchSettings, *extra: str, env: dict[str, str] | None = None
) -> ChildProcess:
    command = txc_command("coordinator", "--listen", address, "--store", store, *settings.coordinator_args, *extra)
    return ChildProcess(command, settings.log_dir / "coordinator.log", env, address=address)


def process_groups(coordinator: int, services: dict[str, list[int]], settings: BenchSettings) -> CpuMeter:
    """CPU of this client process, the coordinator, the services and (embedded) PostgreSQL."""
    groups = {"client": [os.getpid()], "coordinator": [coordinator], **services}
    postmaster = embedded_postmaster(settings)
    if postmaster is not None:
        groups["postgres"] = [postmaster]
    return CpuMeter(groups, without_children=("client",))  # the client's children are the services


def print_summary(summary: dict[str, Any], json_output: bool, render: Callable[[], None]) -> None:
    """``--json``: the summary as JSON on stdout; otherwise ``render()`` prints it as tables."""
    if json_output:
        print(json.dumps(summary, indent=2, default=str))
    else:
        render()
