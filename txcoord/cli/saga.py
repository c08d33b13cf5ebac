"""`txc saga`: check saga YAML files and draw their graph (register, run and show go through a coordinator)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdk.coordinator_client import CoordinatorClient
from sdk.saga import SagaDefinitionError, load_saga, mermaid
from sdk.saga.model import SagaDefinition
from txcoord.cli.common import fail, print_json, run
from txcoord.servicer import as_dict

DEFAULT_COORDINATOR = os.environ.get("TXC_COORDINATOR", "127.0.0.1:7070")
app = typer.Typer(help="Sagas: validate, graph, register, run and show.", no_args_is_help=True)
CoordinatorOption = typer.Option(DEFAULT_COORDINATOR, "--coordinator", "-c", help="Coordinator HOST:PORT.")


def read(path: str) -> SagaDefinition:
    """The saga in ``path``, or one error line per problem on stderr and exit 2."""
    try:
        return load_saga(path)
    except SagaDefinitionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")


@app.command("validate")
def validate_command(files: list[str] = typer.Argument(..., help="Saga YAML files.")) -> None:
    """Check saga files; prints `file:line:col: ...` per problem and exits 2 if any file has one."""
    bad = 0
    for path in files:
        try:
            saga = load_saga(path)
        except SagaDefinitionError as exc:
            typer.echo(str(exc), err=True)
            bad += 1
            continue
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"{path}: cannot read: {exc}", err=True)
            bad += 1
            continue
        typer.echo(f"{path}: ok (saga {saga.name} v{saga.version}, {len(saga.steps)} steps)")
    if bad:
        raise typer.Exit(2)


@app.command("graph")
def graph_command(file: str = typer.Argument(..., help="A saga YAML file.")) -> None:
    """Print the saga's steps and their order as a Mermaid flowchart."""
    typer.echo(mermaid(read(file)), nl=False)


def _detail_dict(detail: Any) -> dict[str, Any]:
    out = as_dict(detail)
    for step in out.get("steps", []):
        for key in ("input_json", "output_json"):
            raw = getattr(next(s for s in detail.steps if s.step_id == step["step_id"]), key)
            step[key.removesuffix("_json")] = json.loads(raw) if raw else None
            step.pop(key, None)
    out["input"] = json.loads(detail.input_json) if detail.input_json else None
    out.pop("input_json", None)
    return out


async def _register(address: str, path: str, source: str) -> tuple[str, int, bool]:
    async with CoordinatorClient(address, session=False) as client:
        return await client.register_saga(source, path)


@app.command("register")
def register_command(
    files: list[str] = typer.Argument(..., help="Saga YAML files."), coordinator: str = CoordinatorOption
) -> None:
    """Store saga definitions in the coordinator (a version, once stored, never changes)."""
    for path in files:
        saga = read(path)  # checked here first: errors name this file's lines
        name, version, created = run(_register(coordinator, path, saga.source))
        typer.echo(f"{path}: saga {name} v{version} " + ("registered" if created else "already registered"))


async def _start(address: str, name: str, value: Any, wait: bool, key: str, version: int, timeout: float) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        result = await client.start_saga(
            name, value, wait=wait, wait_timeout=timeout, idempotency_key=key, version=version
        )
        return result.detail


@app.command("run")
def run_command(
    name: str = typer.Argument(..., help="A registered saga's name."),
    input_json: str = typer.Option("{}", "--input", "-i", help="The saga's input, as JSON."),
    wait: bool = typer.Option(False, "--wait", help="Return once the saga ended, with its outputs."),
    key: str = typer.Option("", "--idempotency-key", "-k", help="A repeated run with this key returns the first."),
    version: int = typer.Option(0, "--version", help="Run this version (default: the newest)."),
    timeout: float = typer.Option(0.0, "--wait-timeout", help="Seconds --wait waits at most (default: the saga's)."),
    json_output: bool = typer.Option(False, "--json"),
    coordinator: str = CoordinatorOption,
) -> None:
    """Start a saga; prints its gid (with --wait: its final state and each step's output)."""
    try:
        value = json.loads(input_json)
    except ValueError as exc:
        fail(f"--input: not JSON ({exc})")
    detail = run(_start(coordinator, name, value, wait, key, version, timeout))
    if json_output:
        print_json(_detail_dict(detail))
        return
    note = "" if detail.created else " (an earlier run with this idempotency key)"
    typer.echo(f"{detail.gid}: saga {detail.name} v{detail.version} {detail.state}{note}")
    if wait:
        for step in detail.steps:
            output = step.output_json.decode() if step.output_json else "-"
            typer.echo(f"  {step.step_id}: {step.state} {output}")
        if detail.error:
            typer.echo(f"  error: {detail.error}")


async def _query(address: str, gid: str) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        return (await client.saga(gid)).detail


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3] if ts else "-"


@app.command("show")
def show_command(
    gid: str, json_output: bool = typer.Option(False, "--json"), coordinator: str = CoordinatorOption
) -> None:
    """One saga instance: each step's state, attempts, timings, output and last error, and its graph."""
    detail = run(_query(coordinator, gid))
    if json_output:
        print_json(_detail_dict(detail))
        return
    console = Console()
    console.print(
        f"[bold]{detail.gid}[/bold]  saga {detail.name} v{detail.version}  {detail.state}  "
        f"owner: {detail.owner or '-'}  error: {detail.error or '-'}"
    )
    table = Table(title="steps")
    for column in ("step", "action", "state", "attempts", "undo attempts", "started", "ended", "output", "last error"):
        table.add_column(column)
    for s in detail.steps:
        output = s.output_json.decode() if s.output_json else "-"
        table.add_row(
            s.step_id,
            s.action,
            s.state,
            str(s.attempts),
            str(s.compensation_attempts),
            _time(s.started_at),
            _time(s.ended_at),
            output,
            s.last_error or "-",
        )
    console.print(table)
    events = Table(title="timeline")
    for column in ("time", "step", "event", "detail"):
        events.add_column(column)
    for e in detail.events:
        events.add_row(_time(e.at), e.step_id or "-", e.event, e.detail)
    console.print(events)
    typer.echo(detail.mermaid, nl=False)
