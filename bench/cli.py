"""`txc bench ...`: benchmarks. Each prints a table (or --json) with a baseline measured in the same run."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks (throughput, p50/p99, ratio against a same-run baseline).", no_args_is_help=True)


@app.command("proxy")
def proxy(
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
    seconds: int = typer.Option(5, help="seconds per sysbench run"),
    threads: int = typer.Option(8, help="sysbench threads"),
    rounds: int = typer.Option(3, min=1, help="rounds; direct and proxy runs alternate, medians reported"),
) -> None:
    """sysbench point_select and read_write through dbproxy (2 shards) vs MariaDB directly, plus proxy RSS."""
    import json

    from rich.console import Console

    from bench import proxy as proxy_bench

    console = Console(stderr=True)
    with console.status("starting") as status:
        report = proxy_bench.run(
            seconds=seconds, threads=threads, rounds=rounds, progress=lambda msg: status.update(msg)
        )
    if json_output:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        proxy_bench.render(report)


@app.command("tcc")
def tcc_command(
    clients: int = typer.Option(32, min=1, help="Concurrent clients."),
    seconds: float = typer.Option(5.0, min=1.0, help="Measured seconds per round and run (after a 2 s warm-up)."),
    rounds: int = typer.Option(3, min=1, help="Rounds; baseline and coordinator runs alternate, medians reported."),
    server: str | None = typer.Option(None, help="PostgreSQL server URL for all databases; default: embedded."),
    session: bool = typer.Option(True, help="Caller to coordinator over one stream (--no-session: unary calls)."),
    signed: bool = typer.Option(True, help="Branch signatures on (--no-signed: off, to measure their cost)."),
    secure: bool = typer.Option(
        False, "--secure", help="TLS on every server and one identity per process (credentials file): security on."
    ),
    protocol: str = typer.Option(
        "grpc", help="'http': also both participants over HTTP/JSON (ASGI under uvicorn), compared in the same run."
    ),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Two-branch TCC transfers through the coordinator vs the same tries and confirms called directly."""
    if protocol not in ("grpc", "http"):
        raise typer.BadParameter(f"expected 'grpc' or 'http', got {protocol!r}", param_hint="--protocol")
    import uvloop

    from bench.tcc import BenchSettings, report, run_bench
    from txcoord.cli.common import print_json, run

    uvloop.install()

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
    if json_output:
        print_json(summary)
    else:
        report(summary)


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command("saga")
def saga_command(
    clients: int = typer.Option(32, min=1, help="Concurrent saga starts (each waits for its saga's end)."),
    seconds: float = typer.Option(5.0, min=1.0, help="Measured seconds per round and run (after a 2 s warm-up)."),
    rounds: int = typer.Option(3, min=1, help="Rounds; baseline and saga runs alternate, medians reported."),
    server: str | None = typer.Option(None, help="PostgreSQL server URL for all databases; default: embedded."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """3-step sagas run by the coordinator vs the same 3 actions called directly."""
    from pathlib import Path

    import uvloop

    from bench.saga import report, run_bench
    from bench.tcc import BenchSettings
    from txcoord.cli.common import print_json, run

    uvloop.install()
    settings = BenchSettings(
        clients=clients, seconds=seconds, server=server, rounds=rounds, log_dir=Path(".txcoord") / "bench-saga-logs"
    )
    summary = run(run_bench(settings, progress=_err))
    if json_output:
        print_json(summary)
    else:
        report(summary)
