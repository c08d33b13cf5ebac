"""Saga definitions by (name, version), parsed once per coordinator: a stored version never changes."""

from __future__ import annotations

from sdk.saga import SagaDefinition, parse_saga
from txcoord.saga.errors import SagaNotFound
from txcoord.saga.store import SagaStore


class Definitions:
    def __init__(self, store: SagaStore) -> None:
        self.store = store
        self._parsed: dict[tuple[str, int], SagaDefinition] = {}

    async def get(self, name: str, version: int = 0) -> SagaDefinition:
        """The definition; version 0 means the newest registered one."""
        if version:
            cached = self._parsed.get((name, version))
            if cached is not None:
                return cached
            source = await self.store.definition(name, version)
        else:
            latest = await self.store.latest_definition(name)
            version, source = latest if latest is not None else (0, None)
        if source is None:
            raise SagaNotFound(name, version)
        saga = self._parsed.get((name, version))
        if saga is None:
            saga = self._parsed[(name, version)] = parse_saga(source, f"{name}@v{version}")
        return saga
