"""``txc bench tcc --observability``: a TCC stack (coordinator and two banks) per variant, off, metrics, tracing
and control, all at once on the bench's PostgreSQL. Stacks run in pairs, side by side, each loaded by a caller
process of its own with half the clients (``bench.tcc_caller``); ``PAIRINGS`` says who runs beside whom. (All
four at once, a quarter of the clients each, moved a round by 20 % either way.)"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from bench.harness import BenchSettings
from bench.observability import METRICS_ANY_PORT, null_otlp_sink, side_by_side
from bench.secure import CALLER
from bench.tcc_stack import TccStack, security, tcc_stack
from sdk.processes import ChildProcess, python_command

BANK_POOL = 4
# Who runs beside whom in the three steps of a round: metrics and tracing each beside an "off" stack (off or
# control, in turn), off beside control for the noise floor. Every stack runs in every step, so each does the same
# work and none ages faster than another: a stack that ran three times the transactions of its twin, its tables
# three times as big, was 8 % slower. The metrics-beside-tracing run only keeps that balance.
OFF = ("off", "control")  # configured alike: either is a reference for metrics and tracing
PAIRINGS = (
    (("off", "metrics"), ("control", "tracing")),
    (("control", "metrics"), ("off", "tracing")),
    (("off", "control"), ("tracing", "metrics")),
)


async def run_tcc_variants(settings: BenchSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    secure = security(settings)
    caller_env = {"TXC_TLS_CA": secure.ca, "TXC_TOKEN": secure.tokens[CALLER]} if secure else {}
    half = max(1, settings.clients // 2)
    # four stacks share the bench's PostgreSQL and its 100 connections: each bank's pool is 4, not 10 (a
    # coordinator keeps up to 14), or the last stack started is refused connections and retries throughout
    settings = replace(settings, bank_args=(*settings.bank_args, "--pool-size", str(BANK_POOL)))
    metered = replace(
        settings,
        coordinator_args=(*settings.coordinator_args, *METRICS_ANY_PORT),
        bank_args=(*settings.bank_args, *METRICS_ANY_PORT),
    )
    with null_otlp_sink() as sink:
        setups = {
            "off": (settings, {}),
            "metrics": (metered, {}),
            "tracing": (settings, sink),
            "control": (settings, {}),
        }
        async with AsyncExitStack() as exits:
            stacks: dict[str, TccStack] = {}
            for name, (variant_settings, env) in setups.items():
                progress(f"bench: starting the {name} stack")
                stacks[name] = await exits.enter_async_context(tcc_stack(variant_settings, name, env, secure))
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in setups if name != "off"}
            for round_no in range(1, settings.rounds + 1):
                for step, pairs in enumerate(PAIRINGS, start=1):
                    for reference, variant in pairs:
                        progress(
                            f"bench: round {round_no}/{settings.rounds}, step {step}/{len(PAIRINGS)}: {variant} beside "
                            f"{reference}, {half} + {half} clients for {settings.seconds}s"
                        )
                        beside, measured = await asyncio.gather(
                            _caller(stacks[reference], settings, half, {**caller_env, **setups[reference][1]}),
                            _caller(stacks[variant], settings, half, {**caller_env, **setups[variant][1]}),
                        )
                        if reference in OFF and variant != reference:  # not metrics beside tracing
                            runs[variant].append({**measured, "reference": beside, "beside": reference})
    keys = ("tps", "p50_ms", "p99_ms", "coordinator_cpu_ms", "cpu_ms")
    return {
        "clients": settings.clients,
        "seconds": settings.seconds,
        "rounds": settings.rounds,
        **side_by_side({"tcc": runs}, keys, "cpu_ms"),
        "runs": runs,
    }


_callers = itertools.count(1)


async def _caller(stack: TccStack, settings: BenchSettings, clients: int, env: dict[str, str]) -> dict[str, Any]:
    """One caller process's run against ``stack``: tps, p50/p99, and CPU ms per transaction of the coordinator
    and of the whole stack (caller, coordinator, banks; not their PostgreSQL, which the stacks share)."""
    args = [stack.address, "--clients", str(clients), "--seconds", str(settings.seconds)]
    args += ["--warmup", str(settings.warmup), *(() if settings.session else ("--no-session",))]
    args += [
        "--meter",
        f"coordinator={stack.coordinator.pid}",
        "--meter",
        f"banks={','.join(map(str, stack.bank_pids))}",
    ]
    log = stack.coordinator.log_path.with_name(f"caller-{next(_callers)}.log")
    caller = ChildProcess([*python_command("-m", "bench.tcc_caller"), *args], log, env)
    output = await asyncio.to_thread(caller.finish, settings.warmup + settings.seconds + 120)
    summary = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    cpu = summary["cpu_ms_per_txn"]
    return {
        "tps": summary["txn_per_s"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "errors": summary["errors"],
        "coordinator_cpu_ms": cpu.get("coordinator", 0.0),
        "cpu_ms": round(sum(cpu.values()), 3),
        "cpu_ms_per_txn": cpu,
    }
