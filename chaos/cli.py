"""`txc chaos ...`: fault-injection runs that check money is neither created nor lost."""

from __future__ import annotations

import typer

app = typer.Typer(help="Chaos runs: crashes and network faults against invariant checkers.", no_args_is_help=True)


@app.callback()
def _chaos() -> None:
    """Chaos scenarios land with the chaos issue."""
