"""The coordinator store's schema version: run alembic upgrades, and refuse a database that is behind."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from txcoord.errors import SchemaOutOfDate, StoreUnavailable


def migrations_dir() -> Path:
    """The alembic environment: the repository's ``sql/migrations``, installed as ``txcoord.schema`` (pyproject)."""
    return Path(str(resources.files("txcoord.schema"))) / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation: a literal % in a URL (escaped password) must be doubled
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    """The revisions a fully upgraded store is at (one per alembic head)."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return set(script.get_heads())


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the store at ``url`` to ``revision`` (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(url), revision)


async def current_revisions(conn: Any) -> set[str]:
    exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
    if not exists:
        return set()
    rows = await conn.fetch("SELECT version_num FROM alembic_version")
    return {row["version_num"] for row in rows}


async def check_schema(conn: Any, url_for_message: str) -> None:
    """Raise :class:`SchemaOutOfDate` unless the store is at every alembic head (``conn``: an asyncpg
    connection or pool connection)."""
    try:
        current = await current_revisions(conn)
    except asyncpg.PostgresError as exc:
        raise StoreUnavailable(f"cannot read the schema version of {url_for_message}: {exc}") from exc
    heads = head_revisions()
    if current != heads:
        have = ", ".join(sorted(current)) or "no txcoord schema"
        want = ", ".join(sorted(heads))
        raise SchemaOutOfDate(
            f"the coordinator store {url_for_message} is at {have}, this txcoord needs {want}; "
            f"run `txc db upgrade --store {url_for_message}`"
        )
