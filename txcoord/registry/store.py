"""What a registry store must do. Two implementations: memory (one server) and PostgreSQL (several)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sdk.registry import Endpoint
from txcoord.errors import NotPermitted

# Called with the services whose endpoints may have changed, or None for "any service" (the PostgreSQL
# store only learns that *something* changed: its notifications carry a version, not a service).
ChangeListener = Callable[[set[str] | None], None]


class LeaseNotYours(NotPermitted):
    """A lease belongs to the identity that registered it: another one presenting its id is refused."""

    def __init__(self, lease_id: str) -> None:
        super().__init__(f"lease_id: lease {lease_id[:40]!r} belongs to another identity; register without a lease id")


class RegistryStore(Protocol):
    async def open(self, on_change: ChangeListener) -> None: ...

    async def close(self) -> None: ...

    async def register(
        self, service: str, address: str, ttl: float, metadata: dict[str, str], lease_id: str, holder: str | None = None
    ) -> Endpoint:
        """``holder``: the identity registering, which the lease then belongs to (None: unchecked, with security
        off or for an admin); raises LeaseNotYours when ``lease_id`` is another identity's."""
        ...

    async def keepalive(self, lease_id: str, holder: str | None = None) -> float | None:
        """The lease's new expiry (unix seconds), or None when it is unknown, already expired, or not
        ``holder``'s."""
        ...

    async def deregister(self, lease_id: str, holder: str | None = None) -> bool: ...

    async def resolve(self, service: str) -> list[Endpoint]: ...

    async def list_all(self) -> list[Endpoint]: ...

    async def expire(self) -> None:
        """Drop expired leases (resolve already hides them; this tells watchers)."""
        ...
