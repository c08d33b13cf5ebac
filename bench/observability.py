"""What seeing inside costs: the same benchmark with everything off, with metrics on, and with tracing at 100 %
sampling, in one command; throughput of each and its cost against "off".

Tracing exports over OTLP/HTTP to a sink in this process that reads and drops every batch (the SDK's whole
path, protobuf encoding and HTTP included, without a collector's own cost). The caller traces too (its
transaction() is each trace's root). The proxy's variants are proxies of their own on the same shards, measured in
turn within each round (sysbench is their client); the TCC bench's run one after another with fresh processes (its
caller is this process, and a tracer once set up stays for the life of the process, so tracing goes last)."""

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


def proxy_variants(
    run_variants: Callable[..., dict[str, Any]], progress: Callable[[str], None], rounds: int = 5, **kwargs: Any
) -> dict[str, Any]:
    """``txc bench proxy --observability``: one proxy per variant (and one more without a coordinator for the
    best-effort transfer), all on the same shards, measured in turn (``bench.proxy.run_variants``). A variant's
    cost in a round is the throughput it lost against "off" run just before or after it; the median over the
    rounds is reported, beside the proxy's CPU per transaction and its growth (the steadier figure: this machine's
    throughput moves by up to 30 % from one minute to the next)."""
    with null_otlp_sink() as env:
        variants = {
            "off": ({}, {}),
            "metrics": ({"metrics": {"listen": "127.0.0.1:0"}}, {}),
            "tracing": ({}, env),
        }
        measured = run_variants(variants, progress=progress, rounds=rounds, **kwargs)
    out: dict[str, Any] = {"rounds": rounds, "tps": {}, "cost_percent": {}, "proxy_cpu_ms": {}, "cpu_cost_percent": {}}
    out["p50_ms"], out["p99_ms"] = {}, {}
    for workload, by_variant in measured["workloads"].items():

        def medians(key: str, runs: dict[str, list[dict[str, float]]] = by_variant) -> dict[str, float]:
            return {v: round(statistics.median(run[key] for run in runs[v]), 3) for v in VARIANTS}

        out["tps"][workload] = medians("tps")
        out["p50_ms"][workload] = medians("p50_ms")
        out["p99_ms"][workload] = medians("p99_ms")
        out["proxy_cpu_ms"][workload] = medians("proxy_cpu_ms")
        off = by_variant["off"]
        out["cost_percent"][workload] = {
            v: _median_cost([run["tps"] for run in by_variant[v]], [run["tps"] for run in off]) for v in VARIANTS[1:]
        }
        # more CPU per transaction is a cost: the sign turned to match
        out["cpu_cost_percent"][workload] = {
            v: -_median_cost([run["proxy_cpu_ms"] for run in by_variant[v]], [run["proxy_cpu_ms"] for run in off])
            for v in VARIANTS[1:]
        }
    out["runs"] = measured["workloads"]
    return out


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
