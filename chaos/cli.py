"""`txc chaos run`: fault-injection runs that check money is neither created nor lost."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer

from chaos.errors import ChaosError
from chaos.runner import Live, RunOptions, RunResult, run
from sdk.processes import ProcessFailed

app = typer.Typer(help="Chaos runs: crashes and network faults against invariant checkers.", no_args_is_help=True)


def _parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"expected seconds or a number with s/m/h (60, 90s, 10m), got {text!r}") from None


@app.command("run")
def run_command(
    workload: str = typer.Option("bank-tcc", help="Workload: bank-tcc, bank-saga, bank-xa (mixed-at: later)."),
    faults: str = typer.Option("", help="Comma-separated fault kinds (default: every kind). See `txc chaos kinds`."),
    duration: str = typer.Option("60s", help="How long the workload runs (e.g. 60, 90s, 10m)."),
    clients: int = typer.Option(4, help="Concurrent workload clients."),
    seed: int = typer.Option(0, help="Seed of the fault schedule and the workload's choices (replay a run)."),
    report: Path = typer.Option(Path("chaos-report"), help="Folder for history.jsonl, report.json, report.html."),
    settle: float = typer.Option(90.0, help="Seconds every transaction has to become terminal after heal."),
    plugin: list[str] = typer.Option([], help="Module (dotted name or .py path) registering workloads/nemeses."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json instead of the live display."),
) -> None:
    """Start a system of real processes, run a workload under faults, heal, and check the invariants."""
    options = RunOptions(
        workload=workload,
        faults=[f.strip() for f in faults.split(",") if f.strip()],
        duration=_parse_duration(duration),
        clients=clients,
        seed=seed,
        report_dir=report,
        settle=settle,
        plugins=list(plugin),
    )
    if clients < 1:
        raise typer.BadParameter("--clients: must be at least 1")
    try:
        result = _run_json(options) if as_json else _run_live(options)
    except (ChaosError, ProcessFailed) as exc:  # a child that would not start: its log is named
        typer.echo(f"txc chaos: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.report, indent=2, default=str))
    else:
        _print_result(result)
    raise typer.Exit(0 if result.passed else 1)


@app.command("kinds")
def kinds() -> None:
    """List the registered workloads and fault kinds."""
    from chaos.registry import NEMESES, WORKLOADS, load_builtins

    load_builtins()
    for name, factory in sorted(WORKLOADS.items()):
        reason = factory().unavailable()
        typer.echo(f"workload {name}{'  (' + reason + ')' if reason else ''}")
    for kind in sorted(NEMESES):
        typer.echo(f"fault    {kind}")


def _run_json(options: RunOptions) -> RunResult:
    return asyncio.run(run(options))


def _run_live(options: RunOptions) -> RunResult:
    from rich.console import Console
    from rich.live import Live as RichLive

    console = Console(stderr=True)

    def render(live: Live) -> str:
        active = ", ".join(live.active) or "none"
        return (
            f"[bold]{live.phase}[/]  {live.elapsed:5.0f}/{live.duration:.0f}s  "
            f"{live.tps():6.1f} tx/s  ok {live.ok}  failed {live.failed}  unknown {live.unknown}  faults: {active}"
        )

    with RichLive(console=console, refresh_per_second=4, transient=not console.is_terminal) as display:
        return asyncio.run(run(options, on_progress=lambda live: display.update(render(live))))


def _print_result(result: RunResult) -> None:
    out = sys.stdout
    for check in result.checks:
        out.write(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}\n")
        for offender in check.offenders[:20]:
            out.write(f"      {json.dumps(offender, default=str)}\n")
        if len(check.offenders) > 20:
            out.write(f"      ... {len(check.offenders) - 20} more in report.json\n")
    totals = result.report["totals"]
    out.write(
        f"{totals['attempted']} transfers: {totals['ok']} ok, {totals['failed']} failed, {totals['unknown']} unknown; "
        f"report: {result.report_dir / 'report.html'}\n"
    )
    out.write("chaos run passed\n" if result.passed else "chaos run FAILED\n")
