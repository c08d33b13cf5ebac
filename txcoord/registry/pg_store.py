"""PostgreSQL registry store: several registry servers share one lease table.

Every change NOTIFYs ``txc_registry`` with a version number only; each server re-reads the table when
notified, and also polls, so a lost notification costs latency, never correctness. After the listening
connection drops, the server reconnects and re-reads everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from sdk.registry import Endpoint
from txcoord.errors import StoreUnavailable
from txcoord.registry.store import ChangeListener, LeaseNotYours
from txcoord.sql_queries import load_queries
from txcoord.store.migrations import check_schema
from txcoord.store.outage import report_failure

log = logging.getLogger(__name__)
QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
CHANNEL = "txc_registry"


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        service=row["service"],
        address=row["address"],
        lease_id=row["lease_id"],
        registered_at=row["registered_at"],
        expires_at=row["expires_at"],
        metadata=json.loads(row["metadata"]),
    )


class PgRegistryStore:
    def __init__(self, dsn: str, *, poll_interval: float = 1.0) -> None:
        self.dsn = dsn
        self.poll_interval = poll_interval
        self._pool: asyncpg.Pool | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._on_change: ChangeListener | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("registry store used before open()")
        return self._pool

    async def open(self, on_change: ChangeListener) -> None:
        self._on_change = on_change
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to the registry store {self.dsn}: {exc}") from exc
        async with self.pool.acquire() as conn:
            await check_schema(conn, self.dsn)
        self._listen_task = asyncio.create_task(self._listen(), name="registry-listen")

    async def close(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listen_task
        if self._pool is not None:
            await self._pool.close()

    def _changed(self, *_: Any) -> None:
        if self._on_change is not None:
            self._on_change(None)

    async def _listen(self) -> None:
        """Keep a LISTEN connection; after every (re)connect, assume everything changed."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                await conn.add_listener(CHANNEL, self._changed)
                self._changed()
                while not conn.is_closed():
                    await asyncio.sleep(self.poll_interval)
                    self._changed()  # the poll: cheap, and covers a notification lost in a reconnect
            except (OSError, asyncpg.PostgresError) as exc:
                report_failure(exc, log, "registry LISTEN connection lost (%s); reconnecting", exc)
                await asyncio.sleep(0.5)
            finally:
                if conn is not None and not conn.is_closed():
                    await conn.close()

    async def register(
        self, service: str, address: str, ttl: float, metadata: dict[str, str], lease_id: str, holder: str | None = None
    ) -> Endpoint:
        lease_id = lease_id or uuid.uuid4().hex
        async with self.pool.acquire() as conn, conn.transaction():
            held = await conn.fetchrow(QUERIES["lease_holder"], lease_id)
            if held is not None and holder is not None and held["holder"] != holder:
                raise LeaseNotYours(lease_id)
            await conn.execute(QUERIES["drop_lease_elsewhere"], lease_id, service, address)
            row = await conn.fetchrow(
                QUERIES["register"], lease_id, service, address, json.dumps(metadata), ttl, holder
            )
            await conn.execute(QUERIES["notify"])
        assert row is not None
        return _endpoint(row)

    async def keepalive(self, lease_id: str, holder: str | None = None) -> float | None:
        value = await self.pool.fetchval(QUERIES["keepalive"], lease_id, holder)
        return None if value is None else float(value)

    async def deregister(self, lease_id: str, holder: str | None = None) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            service = await conn.fetchval(QUERIES["deregister"], lease_id, holder)
            if service is not None:
                await conn.execute(QUERIES["notify"])
        return service is not None

    async def resolve(self, service: str) -> list[Endpoint]:
        return [_endpoint(row) for row in await self.pool.fetch(QUERIES["resolve"], service)]

    async def list_all(self) -> list[Endpoint]:
        return [_endpoint(row) for row in await self.pool.fetch(QUERIES["list_all"])]

    async def expire(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            gone = await conn.fetch(QUERIES["expire"])
            if gone:
                await conn.execute(QUERIES["notify"])
