"""`txc saga`: check saga YAML files and draw their graph (register, run and show go through a coordinator)."""

from __future__ import annotations

import os

import typer

from sdk.saga import SagaDefinitionError, load_saga, mermaid
from sdk.saga.model import SagaDefinition
from txcoord.cli.common import fail

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
