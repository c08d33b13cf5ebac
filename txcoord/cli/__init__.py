"""The coordinator's commands for `txc`: registry, coordinator, db, tx, saga."""

from __future__ import annotations

import typer

from txcoord.cli.coordinator import coordinator
from txcoord.cli.db import app as db_app
from txcoord.cli.registry import app as registry_app
from txcoord.cli.saga import app as saga_app
from txcoord.cli.tx import app as tx_app


def register_commands(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
    app.command("coordinator")(coordinator)
    app.add_typer(db_app, name="db")
    app.add_typer(tx_app, name="tx")
    app.add_typer(saga_app, name="saga")
