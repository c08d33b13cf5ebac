"""The coordinator store's schema version: run alembic upgrades, and refuse a database that is behind."""

from __future__ import annotations

import ast
import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from txcoord.errors import SchemaOutOfDate, StoreUnavailable


def migrations_dir() -> Path:
    """The alembic environment: the repository's ``sql/migrations``, installed as ``txcoord.schema`` (pyproject)."""
    return Path(str(resources.files("txcoord.schema"))) / "migrations"


if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # here: alembic and SQLAlchemy take a third of a server's start to import

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolation: a literal % in a URL (escaped password) must be doubled
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions a fully upgraded store is at (one per alembic head): every revision no other revision
    names as its ``down_revision``. Read from the version files' own assignments rather than through alembic,
    which every server's start would otherwise import to check its store (a unit test checks both agree)."""
    revisions: set[str] = set()
    below: set[str] = set()
    for path in sorted((migrations_dir() / "versions").glob("*.py")):
        values = _assignments(path)
        if isinstance(values.get("revision"), str):
            revisions.add(values["revision"])
            down = values.get("down_revision")
            below.update([down] if isinstance(down, str) else down or ())
    return frozenset(revisions - below)


def _assignments(path: Path) -> dict[str, Any]:
    """The literal module-level assignments of a version file (``revision: str = "0001_..."``)."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return values


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the store at ``url`` to ``revision`` (blocking; run it in a thread from async code)."""
    from alembic import command

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
