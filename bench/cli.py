"""`txc bench ...`: benchmarks. Each prints a table (or --json) with a baseline measured in the same run."""

from __future__ import annotations

import typer

from bench.harness import print_summary
from txcoord.cli.common import run

# options the client-loop benchmarks (tcc, saga) share
SECONDS = typer.Option(5.0, min=1.0, help="Measured seconds per round and run (after a 2 s warm-up).")
SERVER = typer.Option(None, help="PostgreSQL server URL for all databases; default: embedded.")
JSON_OUTPUT = typer.Option(False, "--json", help="print the summary as JSON")
OBSERVABILITY = typer.Option(
    False,
    "--observability",
    help="Run it three times: everything off, metrics on, tracing at 100 %% sampling; report each one's cost.",
)

app = typer.Typer(help="Benchmarks (throughput, p50/p99, ratio against a same-run baseline).", no_args_is_help=True)


@app.command("proxy")
def proxy(
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
    seconds: int = typer.Option(5, help="seconds per sysbench run"),
    threads: int = typer.Option(8, help="sysbench threads"),
    rounds: int | None = typer.Option(None, min=1, help="rounds, medians (default 3; 12 with --observability)"),
    observability: bool = OBSERVABILITY,
) -> None:
    """sysbench point_select and read_write through dbproxy (2 shards) vs MariaDB directly, plus proxy RSS."""
    from rich.console import Console

    from bench import proxy as proxy_bench

    console = Console(stderr=True)
    if observability:
        from bench.observability import proxy_variants, render

        with console.status("starting") as status:
            out = proxy_variants(
                proxy_bench.run_variants, lambda msg: status.update(msg), seconds=seconds, threads=threads,
                rounds=rounds or 12,
            )  # fmt: skip
        print_summary(
            out,
            json_output,
            lambda: render(out, "txc bench proxy --observability", "proxy_cpu_ms", "proxy CPU us", 1000),
        )
        return
    with console.status("starting") as status:
        report = proxy_bench.run(
            seconds=seconds, threads=threads, rounds=rounds or 3, progress=lambda msg: status.update(msg)
        )
    print_summary(report.to_dict(), json_output, lambda: proxy_bench.render(report))


@app.command("tcc")
def tcc_command(
    clients: int = typer.Option(32, min=1, help="Concurrent clients."),
    seconds: float = SECONDS,
    rounds: int = typer.Option(3, min=1, help="Rounds; baseline and coordinator runs alternate, medians reported."),
    server: str | None = SERVER,
    session: bool = typer.Option(True, help="Caller to coordinator over one stream (--no-session: unary calls)."),
    signed: bool = typer.Option(True, help="Branch signatures on (--no-signed: off, to measure their cost)."),
    secure: bool = typer.Option(
        False, "--secure", help="TLS on every server and one identity per process (credentials file): security on."
    ),
    protocol: str = typer.Option(
        "grpc", help="'http': also both participants over HTTP/JSON (ASGI under uvicorn), compared in the same run."
    ),
    json_output: bool = JSON_OUTPUT,
    observability: bool = OBSERVABILITY,
) -> None:
    """Two-branch TCC transfers through the coordinator vs the same tries and confirms called directly."""
    if protocol not in ("grpc", "http"):
        raise typer.BadParameter(f"expected 'grpc' or 'http', got {protocol!r}", param_hint="--protocol")
    import uvloop

    from bench.tcc import BenchSettings, report, run_bench

    uvloop.install()
    if observability:
        from bench.observability import render
        from bench.tcc_variants import run_tcc_variants

        settings = BenchSettings(
            clients=clients,
            seconds=seconds,
            server=server,
            rounds=rounds,
            session=session,
            signed=signed,
            secure=secure,
        )
        out = run(run_tcc_variants(settings, _err))
        print_summary(
            out,
            json_output,
            lambda: render(out, "txc bench tcc --observability", "cpu_ms", "CPU ms (caller, coordinator, banks)"),
        )
        return

    summary = run(
        run_bench(
            BenchSettings(
                clients=clients,
                seconds=seconds,
                server=server,
                rounds=rounds,
                session=session,
                signed=signed,
                secure=secure,
                protocol=protocol,
            ),
            progress=_err,
        )
    )
    print_summary(summary, json_output, lambda: report(summary))


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command("saga")
def saga_command(
    clients: int = typer.Option(32, min=1, help="Concurrent saga starts (each waits for its saga's end)."),
    seconds: float = SECONDS,
    rounds: int = typer.Option(3, min=1, help="Rounds; baseline and saga runs alternate, medians reported."),
    server: str | None = SERVER,
    json_output: bool = JSON_OUTPUT,
) -> None:
    """3-step sagas run by the coordinator vs the same 3 actions called directly."""
    from pathlib import Path

    import uvloop

    from bench.harness import BenchSettings
    from bench.saga import report, run_bench

    uvloop.install()
    settings = BenchSettings(
        clients=clients, seconds=seconds, server=server, rounds=rounds, log_dir=Path(".txcoord") / "bench-saga-logs"
    )
    summary = run(run_bench(settings, progress=_err))
    print_summary(summary, json_output, lambda: report(summary))


@app.command("reading")
def reading_command(
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
    number: int = typer.Option(300, min=10, help="calls per timed run (5 runs, median reported)"),
) -> None:
    """What reading statements as MariaDB does costs per statement: plan cache hit, full plan, the reading
    checks alone, Vitess-style regeneration from the tree, literal lifting. CPU only, no servers."""
    import dataclasses
    import json

    from bench import reading

    rows = reading.run(number=number)
    if json_output:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    else:
        reading.render(rows)
