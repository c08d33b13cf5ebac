"""`txc tx`: look at and steer global transactions (list, show, retry, abort) through a coordinator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdk.coordinator_client import CoordinatorClient
from txcoord.cli.common import COORDINATOR, as_dict, fail, print_json, run

app = typer.Typer(help="Global transactions: list, show, retry phase 2, resolve by hand, abort.", no_args_is_help=True)
CoordinatorOption = COORDINATOR


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3] if ts else "-"


async def _with_client(address: str, method: str, *args: Any) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        return await getattr(client, method)(*args)


async def _list(address: str, state: str, limit: int, **filters: str) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        return await client.list(state, limit, **filters)


@app.command("list")
def list_command(
    state: str | None = typer.Option(
        None, "--state", "-s", help="Only this state (BEGIN, COMMITTING, ..., RUNNING, COMPENSATED)."
    ),
    limit: int = typer.Option(50, min=1, max=10_000, help="At most this many, newest first."),
    mode: str = typer.Option("", "--mode", help="Only TCC, SAGA or XA transactions."),
    service: str = typer.Option("", "--service", help="Only those with a branch of this service."),
    gid_prefix: str = typer.Option("", "--gid-prefix", help="Only gids starting with this."),
    after: str = typer.Option("", "--after", help="The page after this gid (the last one listed)."),
    json_output: bool = typer.Option(False, "--json"),
    coordinator: str = CoordinatorOption,
) -> None:
    """List transactions, newest first, with counts per state."""
    filters = {"mode": mode.upper(), "service": service, "gid_prefix": gid_prefix, "after_gid": after}
    reply = run(_list(coordinator, (state or "").upper(), limit, **filters))
    if json_output:
        print_json(as_dict(reply))
        return
    table = Table(title=f"transactions ({', '.join(f'{k} {v}' for k, v in sorted(reply.counts.items())) or 'none'})")
    # a gid is what a person copies into the next command: never cut, whatever the terminal's width
    table.add_column("gid", no_wrap=True, min_width=max((len(tx.gid) for tx in reply.transactions), default=3))
    for column in ("mode", "state", "branches", "attempts", "created", "reason"):
        table.add_column(column)
    for tx in reply.transactions:
        row = (tx.gid, tx.mode or "TCC", tx.state, str(tx.branch_count), str(tx.attempts), _time(tx.created_at))
        table.add_row(*row, tx.reason)
    Console().print(table)


def _what(branch: Any) -> str:
    """The action, or for an XA branch the backend and the xid a proxy prepared there."""
    if branch.kind != "XA":
        return str(branch.action)
    try:
        payload = json.loads(branch.payload_json or b"{}")
        return f"backend {payload['backend']}, xid {payload['xid']}"
    except (ValueError, KeyError, TypeError):
        return str(branch.action)


def timeline(detail: Any) -> list[tuple[float, str, str]]:
    """(time, what, detail) of a transaction's life, oldest first."""
    tx = detail.transaction
    items: list[tuple[float, str, str]] = [(tx.created_at, "begin", f"timeout {tx.timeout_seconds:g}s")]
    for b in detail.branches:
        items.append((b.created_at, f"branch {b.branch_id} registered", f"{b.service}.{b.action}"))
        if b.finished_at:
            items.append((b.finished_at, f"branch {b.branch_id} {b.state.lower()}", f"after {b.attempts} failures"))
    if tx.decided_at:
        verb = "commit" if tx.state.startswith("COMMIT") else "rollback"
        items.append((tx.decided_at, f"decided: {verb}", tx.reason))
    for e in detail.events:
        items.append((e.at, e.event + (f" (branch {e.branch_id})" if e.branch_id else ""), e.detail))
    if tx.finished_at:
        items.append((tx.finished_at, f"finished: {tx.state}", ""))
    return sorted(items, key=lambda item: item[0])


@app.command("show")
def show_command(
    gid: str,
    json_output: bool = typer.Option(False, "--json"),
    coordinator: str = CoordinatorOption,
) -> None:
    """One transaction: its branches, their attempts and last error, and a timeline."""
    detail = run(_with_client(coordinator, "query", gid))
    if json_output:
        out = as_dict(detail)
        out["timeline"] = [{"at": at, "what": what, "detail": info} for at, what, info in timeline(detail)]
        print_json(out)
        return
    tx = detail.transaction
    if tx.mode == "SAGA":  # its story is its steps, not branches
        typer.echo(f"{tx.gid}: a saga ({tx.state}); its steps and timeline: `txc saga show {tx.gid}`")
        return
    console = Console()
    console.print(
        f"[bold]{tx.gid}[/bold]  {tx.state}  reason: {tx.reason or '-'}  attempts: {tx.attempts}  "
        f"owner: {tx.owner or '-'}  next attempt: {_time(tx.next_attempt_at)}"
    )
    console.print(f"trace id: {tx.trace_id or '- (not traced)'}")
    branches = Table(title="branches")
    for column in ("id", "kind", "service", "action", "state", "attempts", "last error", "next attempt"):
        branches.add_column(column)
    for b in detail.branches:
        branches.add_row(
            b.branch_id,
            b.kind or "TCC",
            b.service,
            _what(b),
            b.state,
            str(b.attempts),
            b.last_error or "-",
            _time(b.next_attempt_at),
        )
    console.print(branches)
    events = Table(title="timeline")
    for column in ("time", "what", "detail"):
        events.add_column(column)
    for at, what, info in timeline(detail):
        events.add_row(_time(at), what, info)
    console.print(events)


async def _unless_saga(address: str, gid: str, instead: str, method: str, *args: Any) -> Any:
    """``method`` on a TCC / XA transaction; a saga's steps are finished by `txc saga` instead."""
    async with CoordinatorClient(address, session=False) as client:
        detail = await client.query(gid)
        if detail.transaction.mode == "SAGA":
            fail(f"{gid} is a saga ({detail.transaction.state}): {instead} (`txc saga show {gid}` tells its story)")
        return await getattr(client, method)(*args)


@app.command("retry")
def retry_command(gid: str, coordinator: str = CoordinatorOption) -> None:
    """Run the next phase-2 round of a COMMITTING / ROLLING_BACK transaction now; put one marked for a person
    (COMMIT_FAILED / ROLLBACK_FAILED) back into phase 2. For a saga: `txc saga retry`."""
    state = run(_unless_saga(coordinator, gid, f"use `txc saga retry {gid}`", "retry", gid))
    typer.echo(f"{gid}: {state} (after the retry request)")


@app.command("resolve")
def resolve_command(
    gid: str,
    branch: str = typer.Option(..., "--branch", "-b", help="The branch id (see `txc tx show`)."),
    outcome: str = typer.Option(..., "--as", help="What a person did: confirmed or cancelled."),
    coordinator: str = CoordinatorOption,
) -> None:
    """Record that a person finished a branch of a COMMIT_FAILED / ROLLBACK_FAILED transaction by hand; the
    transaction ends when its last open branch is resolved. Recorded in the timeline."""
    instead = f"use `txc saga resolve {gid} --step STEP`"
    state = run(_unless_saga(coordinator, gid, instead, "resolve", gid, branch, outcome.lower()))
    typer.echo(f"{gid}: branch {branch} {outcome.lower()}; transaction {state}")


@app.command("abort")
def abort_command(gid: str, coordinator: str = CoordinatorOption) -> None:
    """Roll back a transaction still in BEGIN."""
    state = run(
        _unless_saga(coordinator, gid, "a saga is not aborted, the coordinator drives it to its end", "abort", gid)
    )
    typer.echo(f"{gid}: {state}")
