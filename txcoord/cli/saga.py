"""`txc saga`: check saga YAML files and draw their graph (register, run and show go through a coordinator)."""

from __future__ import annotations

import getpass
import json
import socket
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdk.coordinator_client import CoordinatorClient
from sdk.registry import RegistryClient
from sdk.registry.model import Endpoint
from sdk.saga import SagaDefinitionError, load_saga, mermaid
from sdk.saga.model import SagaDefinition
from txcoord.cli.common import COORDINATOR, as_dict, fail, print_json, run
from txcoord.saga.served import unserved

app = typer.Typer(help="Sagas: validate, graph, register, run and show.", no_args_is_help=True)
CoordinatorOption = COORDINATOR
# `txc saga run --wait` exit codes: scripts must not take an undone saga for a done one
# anything else (still running): 3
WAIT_EXIT = {"SUCCEEDED": 0, "COMPENSATED": 1, "COMPENSATION_FAILED": 1, "FORWARD_FAILED": 1}
FORWARD_STATES = ("RUNNING", "SUCCEEDED", "FORWARD_FAILED")  # a saga going forward (past any compensation)


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


async def _endpoints(registry: str) -> list[Endpoint]:
    client = RegistryClient(registry)
    try:
        return await client.list_all()
    finally:
        await client.close(deregister=False)


@app.command("register")
def register_command(
    files: list[str] = typer.Argument(..., help="Saga YAML files."),
    strict: bool = typer.Option(False, "--strict", help="Refuse (exit 2) a saga naming an action nobody serves."),
    registry: str = typer.Option(
        "", "--registry", "-r", help="Registry to check the actions against (default: the coordinator's)."
    ),
    coordinator: str = CoordinatorOption,
) -> None:
    """Store saga definitions in the coordinator (a version, once stored, never changes). Each step's action
    and compensation is checked against the registry first: one nobody serves is a warning (a typo would
    otherwise show only when the saga runs), or with --strict a refusal."""
    sagas = [(path, read(path)) for path in files]  # checked here first: errors name this file's lines
    endpoints = run(_endpoints(registry or coordinator))
    refused = False
    for path, saga in sagas:
        for problem in unserved(saga, endpoints):
            typer.echo(f"{path}: {'error' if strict else 'warning'}: {problem}", err=True)
            refused = refused or strict
    if refused:
        fail("nothing registered: every action must be served under --strict (start its participant first)")
    for path, saga in sagas:
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
    """Start a saga; prints its gid (with --wait: its final state and each step's output, and the exit code is
    0 only when it SUCCEEDED: 1 when it ended COMPENSATED or needs a person, 3 when it had not ended in time)."""
    try:
        value = json.loads(input_json)
    except ValueError as exc:
        fail(f"--input: not JSON ({exc})")
    detail = run(_start(coordinator, name, value, wait, key, version, timeout))
    if json_output:
        print_json(_detail_dict(detail))
        _exit_unless_succeeded(detail, wait)
        return
    note = "" if detail.created else " (an earlier run with this idempotency key)"
    typer.echo(f"{detail.gid}: saga {detail.name} v{detail.version} {detail.state}{note}")
    if wait:
        for step in detail.steps:
            output = step.output_json.decode() if step.output_json else "-"
            typer.echo(f"  {step.step_id}: {step.state} {output}")
        if detail.error:
            typer.echo(f"  error: {detail.error}")
    _exit_unless_succeeded(detail, wait)


def _exit_unless_succeeded(detail: Any, wait: bool) -> None:
    if wait and detail.state != "SUCCEEDED":
        raise typer.Exit(WAIT_EXIT.get(detail.state, 3))


async def _query(address: str, gid: str) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        return (await client.saga(gid)).detail


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3] if ts else "-"


def _me() -> str:
    """Who runs this command, for the saga's timeline."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


async def _admin(address: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async with CoordinatorClient(address, session=False) as client:
        return (await getattr(client, method)(*args, **kwargs)).detail


@app.command("retry")
def retry_command(
    gid: str,
    by: str = typer.Option("", "--by", help="Who asks, for the timeline (default: user@host)."),
    coordinator: str = CoordinatorOption,
) -> None:
    """Drive again a saga marked for a person (COMPENSATION_FAILED or FORWARD_FAILED), once its service is back."""
    detail = run(_admin(coordinator, "retry_saga", gid, by or _me()))
    what = "forward steps" if detail.state in FORWARD_STATES else "compensation"
    typer.echo(f"{gid}: {detail.state} ({what} retried; `txc saga show {gid}` follows it)")


@app.command("resolve")
def resolve_command(
    gid: str,
    step: str = typer.Option(..., "--step", "-s", help="The step a person did by hand (see `txc saga show`)."),
    output: str = typer.Option(
        None,
        "--output",
        "-o",
        help="A forward step completed by hand (FORWARD_FAILED): what it returned, as JSON (default: null).",
    ),
    by: str = typer.Option("", "--by", help="Who did it, for the timeline (default: user@host)."),
    coordinator: str = CoordinatorOption,
) -> None:
    """Record that a person did a step of a saga marked for a person by hand, in the timeline: compensated it
    (COMPENSATION_FAILED: the coordinator compensates the other steps and ends the saga COMPENSATED), or
    completed a forward step with --output as its result (FORWARD_FAILED: the saga goes on forward)."""
    kwargs: dict[str, Any] = {}
    if output is not None:
        try:
            kwargs["output"] = json.loads(output)
        except ValueError as exc:
            fail(f"--output: not JSON ({exc}); e.g. --output '{{\"sent\": true}}'")
    detail = run(_admin(coordinator, "resolve_saga", gid, step, by or _me(), **kwargs))
    done = "completed" if detail.state in FORWARD_STATES else "compensated"
    typer.echo(f"{gid}: step {step} {done} by hand; saga {detail.state}")


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
