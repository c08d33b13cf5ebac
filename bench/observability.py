"""What seeing inside costs: the same benchmark with everything off, with metrics on, and with tracing at 100 %
sampling, in one command; each variant's throughput and its cost against "off".

Every variant has processes of its own (proxies on the same shards; TCC stacks of a coordinator and two banks),
and runs side by side with "off": loaded at the same time, so a burst of load elsewhere on the machine slows both
alike and their ratio keeps what the variant costs. "control" is configured like "off": what it
"costs" is the noise floor. Tracing exports over OTLP/HTTP to a sink in this process that reads and drops every
batch (the SDK's whole path, protobuf encoding and HTTP included, without a collector's own cost); the TCC
bench's callers are processes of their own, so the tracing stack's caller traces (its transaction() is each
trace's root) and the others do not."""

from __future__ import annotations

import random
import statistics
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


def proxy_variants(
    run_variants: Callable[..., dict[str, Any]], progress: Callable[[str], None], rounds: int = 12, **kwargs: Any
) -> dict[str, Any]:
    """``txc bench proxy --observability``: one proxy per variant (and one more without a coordinator for the
    best-effort transfer), all on the same shards; each variant runs side by side with "off"
    (``bench.proxy.run_variants``), and its cost per workload is summed up by :func:`side_by_side`."""
    with null_otlp_sink() as env:
        measured = run_variants(variants(env), progress=progress, rounds=rounds, **kwargs)
    keys = ("tps", "p50_ms", "p99_ms", "proxy_cpu_ms")
    out = side_by_side(measured["workloads"], keys, "proxy_cpu_ms", paired_rounds=True)
    return {"rounds": rounds, **out, "runs": measured["workloads"]}


def variants(tracing_env: dict[str, str], metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Variant name -> (settings, environment): "off" first, the reference."""
    return {
        "off": ({}, {}),
        "metrics": (metrics if metrics is not None else {"metrics": {"listen": "127.0.0.1:0"}}, {}),
        "tracing": ({}, tracing_env),
        "control": ({}, {}),
    }


def side_by_side(
    workloads: dict[str, dict[str, list[dict[str, Any]]]],
    keys: tuple[str, ...],
    cpu_key: str,
    *,
    paired_rounds: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per workload: the median of ``keys`` per variant ("off": over every run beside another variant), a
    variant's cost (the median over the rounds of the throughput it lost against "off" beside it, with a 95 %
    interval) and its CPU growth (``cpu_key`` per transaction against "off"'s). ``paired_rounds``: rounds come in
    pairs that swap the CPUs the two sides run on, and each pair's mean is one value: which half of the CPUs a
    proxy gets moves a round by several percent, the same way for every variant, and a pair cancels it."""
    out: dict[str, dict[str, Any]] = {key: {} for key in (*keys, "cost_percent", "cost_interval", "cpu_cost_percent")}
    for workload, by_variant in workloads.items():
        beside_off = [run["reference"] for runs in by_variant.values() for run in runs]
        columns = {"off": beside_off, **by_variant}
        for key in keys:
            out[key][workload] = {
                v: round(statistics.median(run[key] for run in runs), 3) for v, runs in columns.items()
            }
        costs, intervals, growths = {}, {}, {}
        for variant, runs in by_variant.items():
            losses = [
                (1 - run["tps"] / run["reference"]["tps"]) * 100 if run["reference"]["tps"] else 0.0 for run in runs
            ]
            # more CPU per transaction is a cost: growth counts as positive
            growth = [
                (run[cpu_key] / run["reference"][cpu_key] - 1) * 100 if run["reference"][cpu_key] else 0.0
                for run in runs
            ]
            if paired_rounds:
                losses, growth = _pair_means(losses), _pair_means(growth)
            costs[variant] = round(statistics.median(losses), 1) if losses else 0.0
            intervals[variant] = median_interval(losses)
            growths[variant] = round(statistics.median(growth), 1) if growth else 0.0
        out["cost_percent"][workload] = costs
        out["cost_interval"][workload] = intervals
        out["cpu_cost_percent"][workload] = growths
    return out


def _pair_means(values: list[float]) -> list[float]:
    """The mean of rounds 1 and 2, 3 and 4, ...; a last round without its pair counts alone."""
    return [statistics.fmean(values[i : i + 2]) for i in range(0, len(values), 2)]


def median_interval(values: list[float], confidence: float = 0.95, resamples: int = 2000) -> list[float]:
    """A bootstrap interval of the median of ``values`` (fixed seed: the same rounds give the same interval)."""
    if len(values) < 2:
        return [round(v, 1) for v in values * 2][:2] if values else [0.0, 0.0]
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return [round(medians[int(tail * resamples)], 1), round(medians[int((1 - tail) * resamples) - 1], 1)]


def render(out: dict[str, Any], title: str, cpu_key: str, cpu_label: str, cpu_scale: float = 1.0) -> None:
    """Per workload: throughput of each variant, what metrics and tracing cost against "off" beside them (median
    [95 % interval] over the rounds), the control's noise floor, and ``cpu_key`` per transaction."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title}: {out['rounds']} rounds, each variant side by side with off; cost = throughput "
                  "lost against off at the same time, median [95 % interval]")  # fmt: skip
    columns = ["workload", "tps off / metrics / tracing", "metrics cost %", "tracing cost %", "control (noise) %"]
    columns += [f"{cpu_label} off / metrics / tracing", "CPU growth % metrics / tracing"]
    for column in columns:
        table.add_column(column, justify="left" if column == "workload" else "right")

    def cost(workload: str, variant: str) -> str:
        low, high = out["cost_interval"][workload][variant]
        return f"{out['cost_percent'][workload][variant]} [{low}, {high}]"

    for workload, tps in out["tps"].items():
        cpu, growth = out[cpu_key][workload], out["cpu_cost_percent"][workload]
        table.add_row(
            workload,
            " / ".join(str(round(tps[v])) for v in VARIANTS),
            cost(workload, "metrics"),
            cost(workload, "tracing"),
            cost(workload, "control"),
            " / ".join(str(round(cpu[v] * cpu_scale, 2)) for v in VARIANTS),
            " / ".join(str(growth[v]) for v in VARIANTS[1:]),
        )
    Console().print(table)
