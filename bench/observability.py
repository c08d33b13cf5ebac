"""What seeing inside costs: the same benchmark with everything off, with metrics on, and with tracing at 100 %
sampling, in one command; throughput of each and its cost against "off".

Tracing exports over OTLP/HTTP to a sink in this process that reads and drops every batch (the SDK's whole
path, protobuf encoding and HTTP included, without a collector's own cost). The caller traces too (its
transaction() is each trace's root). Each variant runs with fresh processes: the proxy's variants alternate round
by round (sysbench is their client), the TCC bench's run one after another (its caller is this process, and a
tracer once set up stays for the life of the process, so tracing goes last)."""

from __future__ import annotations

import os
import statistics
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.tcc import BenchSettings

VARIANTS = ("off", "metrics", "tracing")
METRICS_ANY_PORT = ("--metrics-listen", "127.0.0.1:0")


class _Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the exporters' connections open, as a collector does

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def null_otlp_sink() -> Iterator[dict[str, str]]:
    """An OTLP/HTTP endpoint that drops what it gets; yields the OTEL_* environment pointing at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "OTEL_TRACES_SAMPLER": "always_on",
        }
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _costs(rates: dict[str, float]) -> dict[str, float]:
    """Throughput lost against "off", in percent (negative: faster, within the noise)."""
    off = rates.get("off") or 0.0
    return {name: round((1 - rate / off) * 100, 1) if off else 0.0 for name, rate in rates.items() if name != "off"}


async def tcc_variants(
    settings: BenchSettings, run_bench: Callable[..., Awaitable[dict[str, Any]]], progress: Callable[[str], None]
) -> dict[str, Any]:
    """``txc bench tcc --observability``: the TCC bench per variant; txn/s through the coordinator and its cost."""
    runs: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        progress(f"bench: observability {variant}")
        if variant == "off":
            runs[variant] = await run_bench(settings, progress=progress)
        elif variant == "metrics":
            metered = replace(
                settings,
                coordinator_args=(*settings.coordinator_args, *METRICS_ANY_PORT),
                bank_args=(*settings.bank_args, *METRICS_ANY_PORT),
            )
            runs[variant] = await run_bench(metered, progress=progress)
        else:  # last: once the caller's tracer is set up it stays for the life of this process
            with null_otlp_sink() as env, environment(env):
                runs[variant] = await run_bench(settings, progress=progress)
    rates = {name: float(run["tcc"]["txn_per_s"]) for name, run in runs.items()}
    return {"txn_per_s": rates, "cost_percent": _costs(rates), "runs": runs}


def _proxy_variant(run: Callable[..., Any], variant: str, **kwargs: Any) -> Any:
    if variant == "off":
        return run(**kwargs)
    if variant == "metrics":
        return run(proxy_settings={"metrics": {"listen": "127.0.0.1:0"}}, **kwargs)
    with null_otlp_sink() as env:
        return run(proxy_env=env, **kwargs)


def proxy_variants(
    run: Callable[..., Any], progress: Callable[[str], None], rounds: int = 3, **kwargs: Any
) -> dict[str, Any]:
    """``txc bench proxy --observability``: the proxy bench once per variant and round, the variants alternating
    within each round (their order reversed every other round), so the machine's drift over the minutes a run
    takes falls on every variant alike. Each run measures its own direct baseline; a variant's cost in a round is
    its proxy ÷ direct ratio against "off"'s in the same round, and the median over the rounds is reported,
    beside the proxy's CPU per transaction (the steadier figure)."""
    reports: dict[str, list[Any]] = {variant: [] for variant in VARIANTS}
    for r in range(rounds):
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            progress(f"observability round {r + 1}/{rounds}: {variant}")
            report = _proxy_variant(run, variant, progress=progress, rounds=1, **kwargs)
            reports[variant].append(report)
    out: dict[str, Any] = {"rounds": rounds, "tps": {}, "ratio": {}, "cost_percent": {}, "proxy_cpu_ms": {}}
    out["cpu_cost_percent"] = {}
    workloads = [*reports["off"][0].targets, "transfer_best_effort"]
    for workload in workloads:
        ratios = {v: [rep.ratios.get(workload, 0.0) for rep in reports[v]] for v in VARIANTS}
        cpus = {v: [_proxy_cpu(rep, workload) for rep in reports[v]] for v in VARIANTS}
        out["tps"][workload] = {v: round(statistics.median(_proxy_tps(rep, workload) for rep in reports[v]), 1)
                                for v in VARIANTS}  # fmt: skip
        out["ratio"][workload] = {v: round(statistics.median(ratios[v]), 3) for v in VARIANTS}
        out["proxy_cpu_ms"][workload] = {v: round(statistics.median(cpus[v]), 3) for v in VARIANTS}
        out["cost_percent"][workload] = {v: _median_cost(ratios[v], ratios["off"]) for v in VARIANTS[1:]}
        # CPU: more CPU per transaction is a cost, so the sign is turned to match
        out["cpu_cost_percent"][workload] = {v: -_median_cost(cpus[v], cpus["off"]) for v in VARIANTS[1:]}
    out["runs"] = {variant: [rep.to_dict() for rep in reps] for variant, reps in reports.items()}
    return out


def _proxy_measurement(report: Any, workload: str) -> Any:
    """The proxy's measurement of ``workload`` (``transfer_best_effort``: the transfer through the proxy
    without a coordinator)."""
    workload, target = ("transfer", "proxy_best_effort") if workload == "transfer_best_effort" else (workload, "proxy")
    return next(m for m in report.measurements if m.workload == workload and m.target == target)


def _proxy_tps(report: Any, workload: str) -> float:
    return float(_proxy_measurement(report, workload).tps)


def _proxy_cpu(report: Any, workload: str) -> float:
    return float((_proxy_measurement(report, workload).cpu_ms_per_txn or {}).get("proxy", 0.0))


def _median_cost(values: list[float], off: list[float]) -> float:
    """Median over the rounds of what a variant lost against "off" in the same round, in percent."""
    costs = [(1 - v / o) * 100 for v, o in zip(values, off, strict=True) if o]
    return round(statistics.median(costs), 1) if costs else 0.0


def render(
    title: str,
    rates: dict[str, dict[str, float]],
    costs: dict[str, dict[str, float]],
    cpu: dict[str, dict[str, float]] | None = None,
    cpu_costs: dict[str, dict[str, float]] | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    columns = ["workload", *VARIANTS, "metrics cost %", "tracing cost %"]
    if cpu is not None:
        columns += ["CPU ms off/metrics/tracing", "CPU cost % metrics/tracing"]
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")
    for workload, by_variant in rates.items():
        cost = costs.get(workload, {})
        row = [
            workload,
            *(str(by_variant.get(v, "-")) for v in VARIANTS),
            str(cost.get("metrics", "-")),
            str(cost.get("tracing", "-")),
        ]
        if cpu is not None:
            used, more = cpu.get(workload, {}), (cpu_costs or {}).get(workload, {})
            row.append(" / ".join(str(used.get(v, "-")) for v in VARIANTS))
            row.append(" / ".join(str(more.get(v, "-")) for v in VARIANTS[1:]))
        table.add_row(*row)
    Console().print(table)
