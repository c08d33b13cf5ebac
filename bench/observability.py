"""What seeing inside costs: the same benchmark with everything off, with metrics on, and with tracing at 100 %
sampling, in one command; throughput of each and its cost against "off".

Tracing exports over OTLP/HTTP to a sink in this process that reads and drops every batch (the SDK's whole
path, protobuf encoding and HTTP included, without a collector's own cost). The caller traces too (its
transaction() is each trace's root). Variants run one after another, each with fresh processes."""

from __future__ import annotations

import os
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


def proxy_variants(run: Callable[..., Any], progress: Callable[[str], None], **kwargs: Any) -> dict[str, Any]:
    """``txc bench proxy --observability``: the proxy bench per variant; transactions/s per workload and cost."""
    runs: dict[str, Any] = {}
    for variant in VARIANTS:
        progress(f"observability {variant}")
        if variant == "off":
            runs[variant] = run(progress=progress, **kwargs)
        elif variant == "metrics":
            runs[variant] = run(progress=progress, proxy_settings={"metrics": {"listen": "127.0.0.1:0"}}, **kwargs)
        else:
            with null_otlp_sink() as env:
                runs[variant] = run(progress=progress, proxy_env=env, **kwargs)
    out: dict[str, Any] = {"tps": {}, "cost_percent": {}}
    for variant, report in runs.items():
        for m in report.measurements:
            if m.target == "proxy":
                out["tps"].setdefault(m.workload, {})[variant] = m.tps
    for workload, rates in out["tps"].items():
        out["cost_percent"][workload] = _costs(rates)
    out["runs"] = {variant: report.to_dict() for variant, report in runs.items()}
    return out


def render(title: str, rates: dict[str, dict[str, float]], costs: dict[str, dict[str, float]]) -> None:
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
