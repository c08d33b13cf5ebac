"""`txc demo`: transfers between two bank participants through a coordinator, with a crash half-way."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdk.branch_mac import KEY_ENV
from txc.demo.run import PARTS, DemoSettings, run_demo
from txcoord.cli.common import print_json, run
from txcoord.cli.coordinator import check_store_url


def _report(summary: dict[str, Any]) -> None:
    console = Console()
    if "conserved" in summary:
        _report_transfers(console, summary)
    trips = summary.get("trips", {})
    if "trips" in trips:
        sagas = Table(title=f"trip sagas ({trips['succeeded']} succeeded, {trips['compensated']} compensated)")
        for column in ("user", "amount", "saga", "steps completed, in order", "why"):
            sagas.add_column(column)
        for t in trips["trips"]:
            why = t["error"].rsplit("failed: ", 1)[-1] if t["error"] else ""
            order = " > ".join(t["completed_in_order"])
            if t["state"] == "COMPENSATED":
                order += "; undone: " + " > ".join(reversed(t["completed_in_order"]))
            sagas.add_row(t["user"], str(t["amount"]), t["state"], order, why)
        console.print(sagas)
    elif trips:
        console.print(f"trip sagas: {trips.get('skipped')}")
    console.print(f"{summary['seconds']}s on {summary['store']} (logs in {summary['logs']})")
    sharded = summary.get("sharded") or {}
    if "skipped" in sharded:
        console.print(f"sharded part skipped: {sharded['skipped']}")
    elif sharded:
        verdict = "[green]conserved[/green]" if sharded["conserved"] else "[red]NOT conserved[/red]"
        console.print(
            f"sharded (dbproxy, XA, proxy SIGKILLed half-way): "
            f"{', '.join(f'{k} {v}' for k, v in sorted(sharded['outcomes'].items()))}; total "
            f"{sharded['total_before']} -> {sharded['total_after']}: {verdict}; "
            f"{sharded['left_prepared']} XA branches left prepared"
        )


def _report_transfers(console: Console, summary: dict[str, Any]) -> None:
    counts = Table(title="transfers")
    counts.add_column("outcome")
    counts.add_column("count", justify="right")
    counts.add_row("committed", str(summary["committed"]))
    counts.add_row("rolled back", str(summary["rolled_back"]))
    counts.add_row("coordinator log", ", ".join(f"{k} {v}" for k, v in sorted(summary["coordinator_counts"].items())))
    console.print(counts)
    table = Table(title="balances")
    for column in ("bank", "account", "before", "after"):
        table.add_column(column, justify="right" if column in ("before", "after") else "left")
    for bank, accounts in summary["balances_before"].items():
        for account, before in accounts.items():
            table.add_row(bank, account, str(before), str(summary["balances_after"][bank][account]))
    table.add_row("", "total", str(summary["total_before"]), str(summary["total_after"]), style="bold")
    console.print(table)
    verdict = "[green]conserved[/green]" if summary["conserved"] else "[red]NOT conserved[/red]"
    console.print(
        f"total {summary['total_before']} -> {summary['total_after']}: {verdict}; "
        f"{summary['in_flight_after']} still reserved"
    )


def _report_metrics(metrics: dict[str, Any]) -> None:
    """The summary scraped from the demo's own processes' /metrics."""
    table = Table(title="from the processes' metrics (bank-b counts since its restart)")
    table.add_column("process")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, n in sorted(metrics.get("finished", {}).items()):
        table.add_row("coordinator", f"txc_transactions_finished_total {key}", str(n))
    for key, n in sorted(metrics.get("phase2_calls", {}).items()):
        table.add_row("coordinator", f"txc_phase2_calls_total {key}", str(n))
    table.add_row("coordinator", "txc_phase2_retries_total", str(metrics.get("phase2_retries", "-")))
    table.add_row("coordinator", "txc_transactions_needing_person", str(metrics.get("needing_person", "-")))
    for key, n in sorted(metrics.get("participant_calls", {}).items()):
        table.add_row("bank-a + bank-b", f"txc_participant_calls_total {key}", str(n))
    for name, why in metrics.get("unreachable", {}).items():
        table.add_row(name, "not scraped", why)
    Console().print(table)


def demo(
    store: str | None = typer.Option(None, help="postgresql:// URL for the coordinator; default: embedded PostgreSQL."),
    transfers: int = typer.Option(40, min=2, help="How many transfers to run."),
    concurrency: int = typer.Option(4, min=1, help="Transfers in flight at once."),
    data_dir: Path = typer.Option(Path(".txcoord") / "demo-pg", help="Data directory of the embedded PostgreSQL."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    proxy: bool = typer.Option(True, help="Also run transfers across two MariaDB shards through dbproxy (XA)."),
    only: str | None = typer.Option(
        None, help=f"Run one part only: {', '.join(sorted(PARTS))} (the coordinator starts for each)."
    ),
    console: bool = typer.Option(
        False,
        "--console",
        help="Afterwards keep the system running with `txc console` open on it; prints its address (Ctrl-C ends).",
    ),
) -> None:
    """Run the demo: two banks, transfers (some refused), bank-b killed and restarted half-way."""
    check_store_url(store)
    # Branch signatures on in the demo too: one key for this run, handed to the coordinator and every
    # participant the demo starts through their environment (sdk.branch_mac); never through the network.
    os.environ.setdefault(KEY_ENV, secrets.token_hex(32))
    if only is not None and only not in PARTS:
        raise typer.BadParameter(f"{only!r} is not a part of the demo; the parts: {', '.join(sorted(PARTS))}")
    parts = frozenset({only}) if only else PARTS - (set() if proxy else {"sharded"})
    settings = DemoSettings(
        store=store, data_dir=data_dir, transfers=transfers, concurrency=concurrency, parts=parts, console=console
    )
    err = Console(stderr=True)

    def progress(message: str) -> None:
        err.print(f"[dim]demo:[/dim] {message}")

    def report(summary: dict[str, Any]) -> None:
        if json_output:
            print_json(summary)
        else:
            _report(summary)
            _report_metrics(summary.get("metrics", {}))

    summary = run(run_demo(settings, progress, report if console else None))
    if not console:  # with the console, the report came before it opened
        report(summary)
    trips = summary.get("trips", {})
    trips_ok = "trips" not in trips or (trips["succeeded"] == len(trips["trips"]) - 1 and trips["compensated"] == 1)
    sharded_ok = summary.get("sharded", {}).get("conserved", True)
    sys.exit(0 if summary.get("conserved", True) and trips_ok and sharded_ok else 1)
