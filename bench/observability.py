"""What seeing inside costs: the same benchmark with everything off, with metrics on, and with tracing at 100 %
sampling, in one command; throughput of each and its cost against "off".

Tracing exports over OTLP/HTTP to a sink in this process that reads and drops every batch (the SDK's whole
path, protobuf encoding and HTTP included, without a collector's own cost). The caller traces too (its
transaction() is each trace's root). The proxy's variants are proxies of their own on the same shards, measured in
turn within each round (sysbench is their client); the TCC bench's run one after another with fresh processes (its
caller is this process, and a tracer once set up stays for the life of the process, so tracing goes last)."""

from __future__ import annotations

import os
import random
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
    run_variants: Callable[..., dict[str, Any]], progress: Callable[[str], None], rounds: int = 8, **kwargs: Any
) -> dict[str, Any]:
    """``txc bench proxy --observability``: one proxy per variant (and one more without a coordinator for the
    best-effort transfer), all on the same shards; each variant runs side by side with "off"
    (``bench.proxy.run_variants``). A variant's cost in a round is the throughput it lost against "off" running
    at the same time; the median over the rounds is reported with a 95 % interval, beside the proxy's CPU per
    transaction and its growth. "control" is a second proxy with everything off: what it "costs" is the noise
    floor of two identical proxies (this machine's throughput moves by up to 30 % from one run to the next)."""
    with null_otlp_sink() as env:
        variants = {
            "off": ({}, {}),
            "metrics": ({"metrics": {"listen": "127.0.0.1:0"}}, {}),
            "tracing": ({}, env),
            "control": ({}, {}),
        }
        measured = run_variants(variants, progress=progress, rounds=rounds, **kwargs)
    out: dict[str, Any] = {"rounds": rounds, "tps": {}, "cost_percent": {}, "cost_interval": {}}
    out.update(proxy_cpu_ms={}, cpu_cost_percent={}, p50_ms={}, p99_ms={})
    for workload, by_variant in measured["workloads"].items():
        beside_off = [run["reference"] for runs in by_variant.values() for run in runs]
        columns = {"off": beside_off, **by_variant}
        for key in ("tps", "p50_ms", "p99_ms", "proxy_cpu_ms"):
            out[key][workload] = {
                v: round(statistics.median(run[key] for run in runs), 3) for v, runs in columns.items()
            }
        out["cost_percent"][workload], out["cost_interval"][workload] = {}, {}
        out["cpu_cost_percent"][workload] = {}
        for variant, runs in by_variant.items():
            losses = [(1 - run["tps"] / run["reference"]["tps"]) * 100 for run in runs if run["reference"]["tps"]]
            out["cost_percent"][workload][variant] = round(statistics.median(losses), 1) if losses else 0.0
            out["cost_interval"][workload][variant] = median_interval(losses)
            # more CPU per transaction is a cost: the sign turned to match
            growth = [
                (run["proxy_cpu_ms"] / run["reference"]["proxy_cpu_ms"] - 1) * 100
                for run in runs
                if run["reference"]["proxy_cpu_ms"]
            ]
            out["cpu_cost_percent"][workload][variant] = round(statistics.median(growth), 1) if growth else 0.0
    out["runs"] = measured["workloads"]
    return out


def median_interval(values: list[float], confidence: float = 0.95, resamples: int = 2000) -> list[float]:
    """A bootstrap interval of the median of ``values`` (fixed seed: the same rounds give the same interval)."""
    if len(values) < 2:
        return [round(v, 1) for v in values * 2][:2] if values else [0.0, 0.0]
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return [round(medians[int(tail * resamples)], 1), round(medians[int((1 - tail) * resamples) - 1], 1)]


def render(title: str, rates: dict[str, dict[str, float]], costs: dict[str, dict[str, float]]) -> None:
    """The TCC bench's table: throughput per variant and each variant's cost against "off"."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("workload", *VARIANTS, "metrics cost %", "tracing cost %"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for workload, by_variant in rates.items():
        cost = costs.get(workload, {})
        table.add_row(
            workload,
            *(str(by_variant.get(v, "-")) for v in VARIANTS),
            str(cost.get("metrics", "-")),
            str(cost.get("tracing", "-")),
        )
    Console().print(table)


def render_proxy(out: dict[str, Any]) -> None:
    """The proxy bench's table: per workload, tps of each variant, what metrics and tracing cost against "off"
    beside them (median and 95 % interval over the rounds), the control's noise floor, and the proxy's CPU."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"txc bench proxy --observability: {out['rounds']} rounds, each variant side by side with off; "
        "cost = tps lost against off at the same time (median [95 % interval])"
    )
    columns = ["workload", "tps off / metrics / tracing", "metrics cost %", "tracing cost %", "control (noise) %"]
    columns += ["proxy CPU us off / metrics / tracing", "CPU growth % metrics / tracing"]
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")

    def cost(workload: str, variant: str) -> str:
        low, high = out["cost_interval"][workload][variant]
        return f"{out['cost_percent'][workload][variant]} [{low}, {high}]"

    for workload, tps in out["tps"].items():
        cpu, growth = out["proxy_cpu_ms"][workload], out["cpu_cost_percent"][workload]
        table.add_row(
            workload,
            " / ".join(str(round(tps[v])) for v in VARIANTS),
            cost(workload, "metrics"),
            cost(workload, "tracing"),
            cost(workload, "control"),
            " / ".join(str(round(cpu[v] * 1000, 1)) for v in VARIANTS),
            " / ".join(str(growth[v]) for v in VARIANTS[1:]),
        )
    Console().print(table)
