"""What a registry store must do. Two implementations: memory (one server) and PostgreSQL (several)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sdk.registry import Endpoint

# Called with the services whose endpoints may have changed, or None for "any service" (the PostgreSQL
# store only learns that *something* changed: its notifications carry a version, not a service).
ChangeListener = Callable[[set[str] | None], None]


class RegistryStore(Protocol):
    async def open(self, on_change: ChangeListener) -> None: ...

    async def close(self) -> None: ...

    async def register(
        self, service: str, address: str, ttl: float, metadata: dict[str, str], lease_id: str
    ) -> Endpoint: ...

    async def keepalive(self, lease_id: str) -> float | None:
        """The lease's new expiry (unix seconds), or None when it is unknown or already expired."""
        ...

    async def deregister(self, lease_id: str) -> bool: ...

    async def resolve(self, service: str) -> list[Endpoint]: ...

    async def list_all(self) -> list[Endpoint]: ...

    async def expire(self) -> None:
        """Drop expired leases (resolve already hides them; this tells watchers)."""
        ...
