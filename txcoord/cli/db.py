"""`txc db upgrade --store URL`: bring a coordinator store's schema to the current version."""

from __future__ import annotations

import asyncio

import asyncpg
import typer

from txcoord.cli.common import fail
from txcoord.cli.coordinator import check_store_url
from txcoord.store.migrations import current_revisions, head_revisions, upgrade
from txcoord.tcc.store import redact

app = typer.Typer(help="The coordinator store's schema (alembic migrations shipped in sql/).", no_args_is_help=True)


async def _current(url: str) -> set[str]:
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fail(f"cannot connect to {redact(url)}: {exc}")
    try:
        return await current_revisions(conn)
    finally:
        await conn.close()


@app.command("upgrade")
def upgrade_command(
    store: str = typer.Option(..., help="postgresql:// URL of the coordinator store."),
    revision: str = typer.Option("heads", help="Target revision (default: the latest)."),
) -> None:
    """Apply the migrations the store is missing (idempotent)."""
    check_store_url(store)
    before = asyncio.run(_current(store))
    try:
        upgrade(store, revision)
    except Exception as exc:
        fail(f"upgrade of {redact(store)} failed: {exc}")
    after = asyncio.run(_current(store))
    typer.echo(f"store {redact(store)}: {', '.join(sorted(before)) or 'empty'} -> {', '.join(sorted(after))}", err=True)


@app.command("status")
def status_command(store: str = typer.Option(..., help="postgresql:// URL of the coordinator store.")) -> None:
    """Show the store's schema revision and whether it is current."""
    check_store_url(store)
    current, heads = asyncio.run(_current(store)), head_revisions()
    state = "current" if current == heads else f"out of date: run `txc db upgrade --store {redact(store)}`"
    typer.echo(f"{', '.join(sorted(current)) or 'no schema'} (latest {', '.join(sorted(heads))}): {state}")
