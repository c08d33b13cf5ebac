"""`txc`: the one front door for people. It only dispatches to each package's own CLI module."""

from __future__ import annotations

import typer

from bench.cli import app as bench_app
from chaos.cli import app as chaos_app
from txc.call import call
from txc.demo.cli import demo
from txcoord.cli import register_commands

app = typer.Typer(
    name="txc",
    help="txcoord: distributed transactions (TCC, saga) with a PostgreSQL-backed coordinator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("call")(call)
register_commands(app)
app.command("demo")(demo)
app.add_typer(bench_app, name="bench")
app.add_typer(chaos_app, name="chaos")


def main() -> None:
    app()
