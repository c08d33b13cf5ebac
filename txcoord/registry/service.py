"""The registry as a part of a server process: store + watch hub + expiry sweeper + gRPC servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.rpc import RpcServer
from txcoord.errors import ConfigError
from txcoord.registry.memory_store import MemoryRegistryStore
from txcoord.registry.pg_store import PgRegistryStore
from txcoord.registry.servicer import RegistryServicer
from txcoord.registry.store import RegistryStore
from txcoord.registry.watch_hub import WatchHub
from txcoord.store.outage import report_failure

log = logging.getLogger(__name__)
REGISTRY_SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name


def store_from_url(url: str | None) -> RegistryStore:
    """``None`` or ``memory`` → in-memory store; ``postgresql://…`` → shared PostgreSQL store."""
    if url is None or url in ("", "memory", "memory://"):
        return MemoryRegistryStore()
    if url.startswith(("postgresql://", "postgres://")):
        return PgRegistryStore(url)
    raise ConfigError(f"--store: expected 'memory' or a postgresql:// URL, got {url!r}")


class RegistryServer:
    def __init__(self, store: RegistryStore, *, sweep_interval: float = 0.2) -> None:
        self.store = store
        self.hub = WatchHub(store.resolve)
        self.sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    def attach(self, server: RpcServer) -> None:
        """Add the Registry service to ``server`` (before the server starts)."""
        server.add_servicer(
            registry_pb2_grpc.add_RegistryServicer_to_server,
            RegistryServicer(self.store, self.hub),
            REGISTRY_SERVICE_NAME,
        )

    async def open(self) -> None:
        await self.store.open(self.hub.changed)
        self.hub.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="registry-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.hub.stop()
        await self.store.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.store.expire()
            except Exception as exc:  # a store hiccup must not kill the sweeper
                report_failure(exc, log, "registry: expiring leases failed: %s", exc)
