"""In-memory registry store: for a single registry server (the coordinator's default)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from sdk.registry import Endpoint
from txcoord.registry.store import ChangeListener, LeaseNotYours


def _noop(_services: set[str] | None) -> None:
    return None


class MemoryRegistryStore:
    def __init__(self) -> None:
        self._leases: dict[str, tuple[Endpoint, float]] = {}  # lease_id -> (endpoint, ttl)
        self._holders: dict[str, str | None] = {}  # lease_id -> the identity that registered it
        self._on_change: ChangeListener = _noop

    async def open(self, on_change: ChangeListener) -> None:
        self._on_change = on_change

    async def close(self) -> None:
        self._leases.clear()

    def _yours(self, lease_id: str, holder: str | None) -> bool:
        return holder is None or self._holders.get(lease_id) == holder

    async def register(
        self, service: str, address: str, ttl: float, metadata: dict[str, str], lease_id: str, holder: str | None = None
    ) -> Endpoint:
        if lease_id in self._leases and not self._yours(lease_id, holder):
            raise LeaseNotYours(lease_id)
        now = time.time()
        # One endpoint per (service, address): a restarted process replaces its predecessor's lease.
        for old_id, (old, _) in list(self._leases.items()):
            if old.service == service and old.address == address and old_id != lease_id:
                del self._leases[old_id]
                self._holders.pop(old_id, None)
        previous = self._leases.get(lease_id)
        endpoint = Endpoint(
            service=service,
            address=address,
            lease_id=lease_id or uuid.uuid4().hex,
            registered_at=previous[0].registered_at if previous else now,
            expires_at=now + ttl,
            metadata=dict(metadata),
        )
        self._leases[endpoint.lease_id] = (endpoint, ttl)
        self._holders[endpoint.lease_id] = holder
        self._on_change({service})
        return endpoint

    async def keepalive(self, lease_id: str, holder: str | None = None) -> float | None:
        entry = self._leases.get(lease_id)
        now = time.time()
        if entry is None or entry[0].expires_at <= now or not self._yours(lease_id, holder):
            return None
        endpoint, ttl = entry
        endpoint = replace(endpoint, expires_at=now + ttl)
        self._leases[lease_id] = (endpoint, ttl)
        return endpoint.expires_at

    async def deregister(self, lease_id: str, holder: str | None = None) -> bool:
        if not self._yours(lease_id, holder):
            return False
        self._holders.pop(lease_id, None)
        entry = self._leases.pop(lease_id, None)
        if entry is None:
            return False
        self._on_change({entry[0].service})
        return True

    def _live(self) -> list[Endpoint]:
        now = time.time()
        return sorted(
            (ep for ep, _ in self._leases.values() if ep.expires_at > now), key=lambda ep: (ep.service, ep.address)
        )

    async def resolve(self, service: str) -> list[Endpoint]:
        return [ep for ep in self._live() if ep.service == service]

    async def list_all(self) -> list[Endpoint]:
        return self._live()

    async def expire(self) -> None:
        now = time.time()
        gone = {lease_id: ep.service for lease_id, (ep, _) in self._leases.items() if ep.expires_at <= now}
        for lease_id in gone:
            del self._leases[lease_id]
            self._holders.pop(lease_id, None)
        if gone:
            self._on_change(set(gone.values()))
