"""One chaos run: start the system, run the workload's clients while the nemesis follows the schedule, heal,
wait for quiescence, run the checkers, write the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import checkers, report
from chaos.errors import ChaosError
from chaos.history import History
from chaos.model import Check
from chaos.protocols import Nemesis, Workload
from chaos.registry import NEMESES, WORKLOADS, load_builtins, load_plugin
from chaos.schedule import Entry, draw
from chaos.system import System, SystemOptions
from chaos.workloads.bank_tcc import store_states
from sdk.coordinator_client import CoordinatorClient


@dataclass
class RunOptions:
    workload: str = "bank-tcc"
    faults: list[str] = field(default_factory=list)  # empty: every kind
    duration: float = 60.0
    clients: int = 4
    seed: int = 0
    report_dir: Path = Path("chaos-report")
    settle: float = 90.0  # bound for every transaction to become terminal after heal
    plugins: list[str] = field(default_factory=list)
    coordinator_env: dict[str, str] = field(default_factory=dict)
    keep_data: bool = False


@dataclass
class Live:
    """What the progress display shows."""

    phase: str = "starting"
    elapsed: float = 0.0
    duration: float = 0.0
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    active: list[str] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)  # completion times of ok ops (for tps)

    def tps(self) -> float:
        window = [t for t in self.recent if t > self.elapsed - 5.0]
        return len(window) / 5.0


@dataclass
class RunResult:
    passed: bool
    report: dict[str, Any]
    checks: list[Check]
    report_dir: Path


def resolve(options: RunOptions) -> tuple[Workload, dict[str, Nemesis]]:
    load_builtins()
    for plugin in options.plugins:
        load_plugin(plugin)
    if options.workload not in WORKLOADS:
        raise ChaosError(f"--workload: unknown {options.workload!r}; known: {', '.join(sorted(WORKLOADS))}")
    workload = WORKLOADS[options.workload]()
    reason = workload.unavailable()
    if reason:
        raise ChaosError(reason)
    kinds = options.faults or sorted(NEMESES)
    unknown = [k for k in kinds if k not in NEMESES]
    if unknown:
        raise ChaosError(f"--faults: unknown {', '.join(unknown)}; known: {', '.join(sorted(NEMESES))}")
    return workload, {k: NEMESES[k]() for k in kinds}


async def run(options: RunOptions, on_progress: Callable[[Live], None] | None = None) -> RunResult:
    workload, nemeses = resolve(options)
    options.report_dir.mkdir(parents=True, exist_ok=True)
    (options.report_dir / "logs").mkdir(exist_ok=True)
    _log_to(options.report_dir / "logs" / "harness.log")
    live = Live(duration=options.duration)
    system = System(
        SystemOptions(
            workdir=options.report_dir,
            participants=workload.participants(),
            clock_skew="clock-skew" in nemeses,
            coordinator_env=options.coordinator_env,
            dbproxy=getattr(workload, "dbproxy", lambda: None)(),  # only workloads that run dbproxy have one
        )
    )
    history = History(options.report_dir / "history.jsonl")
    try:
        live.phase = "starting the system"
        _tick(live, on_progress)
        await system.start()
        prepare = getattr(workload, "prepare", None)  # optional: e.g. register saga definitions
        if prepare is not None:
            await prepare(system)
        not_applicable = {k: r for k, n in nemeses.items() if (r := n.unavailable(system))}
        active_nemeses = {k: n for k, n in nemeses.items() if k not in not_applicable}
        rng = random.Random(options.seed)
        schedule = draw(active_nemeses, system, options.duration, rng)
        history.note("schedule", seed=options.seed, schedule=[e.to_json() for e in schedule],
                     not_applicable=not_applicable)  # fmt: skip
        live.phase = "running"
        await _load(options, workload, system, history, active_nemeses, schedule, live, on_progress)
        live.phase = "healing"
        _tick(live, on_progress)
        await system.heal_all()
        live.phase = "waiting for quiescence"
        _tick(live, on_progress)
        waited, left = await checkers.wait_quiescent(system, options.settle)
        live.phase = "checking"
        _tick(live, on_progress)
        slow = await checkers.slowest(system)
        checks = [checkers.terminal_check(waited, left, options.settle, slow)]
        checks += await workload.check(system, history)
        checks.append(await checkers.xa_prepared_check(system))
        states = await store_states(system)
        events = await checkers.coordinator_events(system, history.wall0)
        summary = report.summarize(
            options, history, schedule, checks, states, not_applicable, slow, waited, system.links, events
        )
        (options.report_dir / "report.json").write_text(json.dumps(summary, indent=2, default=str))
        report.write_html(options.report_dir / "report.html", summary, history)
        return RunResult(all(c.ok for c in checks), summary, checks, options.report_dir)
    finally:
        history.close()
        with contextlib.suppress(Exception):
            await system.stop()
        if not options.keep_data:
            system.cleanup()


def _log_to(path: Path) -> None:
    """The harness's own log (and asyncio's complaints about streams the faults broke in the clients) goes to a
    file in the report, not over the progress display."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("asyncio").setLevel(logging.INFO)

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        logging.getLogger("chaos.loop").warning("%s", context.get("message"), exc_info=context.get("exception"))

    asyncio.get_running_loop().set_exception_handler(quiet)


def _tick(live: Live, on_progress: Callable[[Live], None] | None) -> None:
    if on_progress is not None:
        on_progress(live)


async def _load(
    options: RunOptions,
    workload: Workload,
    system: System,
    history: History,
    nemeses: dict[str, Nemesis],
    schedule: list[Entry],
    live: Live,
    on_progress: Callable[[Live], None] | None,
) -> None:
    stop = asyncio.Event()
    history.restart_clock()
    start = 0.0

    async def client(i: int) -> None:
        rng = random.Random(f"{options.seed}-client-{i}")
        addresses = system.caller_addresses
        async with CoordinatorClient(addresses[i % len(addresses)], registry=addresses, timeout=5.0) as coord:
            while not stop.is_set():
                index, t = history.invoke(i)
                args, result = await workload.operation(system, coord, rng)
                history.complete(index, i, t, result.outcome, args, result.error)
                setattr(live, result.outcome, getattr(live, result.outcome) + 1)
                if result.outcome == "ok":
                    live.recent.append(history.now() - start)
                    live.recent = live.recent[-2000:]

    async def nemesis() -> None:
        for entry in schedule:
            await asyncio.sleep(max(0.0, start + entry.at - history.now()))
            if stop.is_set():
                return
            nem = nemeses[entry.kind]
            live.active = [f"{entry.kind} {_target(entry.plan)}"]
            try:
                evidence = await nem.inject(system, entry.plan)
            except Exception as exc:  # the fault could not be injected: say so in the history, go on
                evidence = {"inject_error": f"{type(exc).__name__}: {exc}"}
            window = history.fault_start(entry.kind, entry.plan, evidence)
            await asyncio.sleep(max(0.0, window.start + entry.duration - history.now()))
            try:
                healed = await nem.heal(system, entry.plan)
            except Exception as exc:
                healed = {"heal_error": f"{type(exc).__name__}: {exc}"}
            history.fault_end(window, healed)
            live.active = []

    async def ticker() -> None:
        while not stop.is_set():
            live.elapsed = history.now() - start
            _tick(live, on_progress)
            await asyncio.sleep(0.5)

    clients = [asyncio.create_task(client(i)) for i in range(options.clients)]
    nemesis_task = asyncio.create_task(nemesis())
    ticker_task = asyncio.create_task(ticker())
    await asyncio.sleep(options.duration)
    stop.set()
    await nemesis_task
    live.phase = "draining clients"
    # each operation bounds itself (OP_DEADLINE); give them that long to finish and record their outcome
    _done, pending = await asyncio.wait(clients, timeout=60)
    for task in pending:
        task.cancel()
    for task in clients:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise ChaosError(f"a workload client crashed: {task.exception()!r}")
    ticker_task.cancel()


def _target(plan: dict[str, Any]) -> str:
    return str(plan.get("target") or plan.get("link") or "")
