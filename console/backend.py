"""The console's only way to the system: the coordinator's gRPC API through the sdk, as `txc tx` uses it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from sdk.coordinator_client import CoordinatorClient
from sdk.errors import RpcError, TxcError
from sdk.registry.model import Endpoint
from sdk.rpc import ClientSecurity

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class CoordinatorHealth:
    address: str
    serving: bool
    store_ok: bool  # the coordinator answered a store read (UNAVAILABLE: its store is down)
    detail: str
    millis: float


class Backend:
    """One client per coordinator address, opened for the console's life; calls go to the first one."""

    def __init__(self, addresses: tuple[str, ...], security: ClientSecurity, timeout: float = 5.0) -> None:
        self.clients = [CoordinatorClient(a, session=False, timeout=timeout, security=security) for a in addresses]

    @property
    def main(self) -> CoordinatorClient:
        return self.clients[0]

    async def close(self) -> None:
        for client in self.clients:
            await client.close()

    async def registry(self) -> list[Endpoint]:
        return await self.main.registry.list_all()

    async def health(self) -> list[CoordinatorHealth]:
        return list(await asyncio.gather(*(self._probe(c) for c in self.clients)))

    async def _probe(self, client: CoordinatorClient) -> CoordinatorHealth:
        """A one-row list reads the store: it answers whether the coordinator serves and its store does."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(client.list("", 1, skip_counts=True), PROBE_TIMEOUT)
        except RpcError as exc:
            millis = (time.monotonic() - started) * 1000
            store_down = exc.code == grpc.StatusCode.UNAVAILABLE and "store" in exc.details
            serving = store_down  # it answered, saying its store is down
            return CoordinatorHealth(client.address, serving, False, exc.details, millis)
        except (TxcError, TimeoutError, OSError) as exc:
            millis = (time.monotonic() - started) * 1000
            return CoordinatorHealth(client.address, False, False, str(exc) or "no answer", millis)
        return CoordinatorHealth(client.address, True, True, "", (time.monotonic() - started) * 1000)
