"""alembic environment of the coordinator store (PostgreSQL via asyncpg, no ORM models: migrations are SQL).

The store URL comes from the alembic config's ``sqlalchemy.url`` (set by ``txc db upgrade``)
or ``-x store=URL``.
Plain ``postgresql://`` URLs are mapped to SQLAlchemy's asyncpg dialect, so one URL works everywhere.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("store")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no store URL: run `txc db upgrade --store postgresql://...`")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
