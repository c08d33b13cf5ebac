"""Saga definitions by (name, version), parsed once per coordinator: a stored version never changes."""

from __future__ import annotations

import time

from sdk.saga import SagaDefinition, parse_saga
from txcoord.saga.errors import SagaNotFound
from txcoord.saga.store import SagaStore

LATEST_TTL = 1.0  # seconds a "newest version" answer is reused (a register on another coordinator shows after it)


class Definitions:
    def __init__(self, store: SagaStore) -> None:
        self.store = store
        self._parsed: dict[tuple[str, int], SagaDefinition] = {}
        self._latest: dict[str, tuple[float, int]] = {}  # name -> (when read, newest version)

    def registered(self, name: str) -> None:
        """A version was registered here: the next "newest" lookup asks the store."""
        self._latest.pop(name, None)

    async def get(self, name: str, version: int = 0) -> SagaDefinition:
        """The definition; version 0 means the newest registered one."""
        if version:
            cached = self._parsed.get((name, version))
            if cached is not None:
                return cached
            source = await self.store.definition(name, version)
        else:
            cached_latest = self._latest.get(name)
            if cached_latest is not None and time.monotonic() - cached_latest[0] < LATEST_TTL:
                return self._parsed[(name, cached_latest[1])]
            latest = await self.store.latest_definition(name)
            version, source = latest if latest is not None else (0, None)
            if latest is not None:
                self._latest[name] = (time.monotonic(), version)
        if source is None:
            raise SagaNotFound(name, version)
        saga = self._parsed.get((name, version))
        if saga is None:
            saga = self._parsed[(name, version)] = parse_saga(source, f"{name}@v{version}")
        return saga
