"""Shard keys the proxy assigns to inserted rows that have none (per-shard AUTO_INCREMENT would collide and put
rows on the wrong shard). Seeded from MAX(key) over all shards the first time; one proxy process per table."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class KeyGenerator:
    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def allocate(self, table: tuple[str, str], count: int, seed: Callable[[], Awaitable[int]]) -> int:
        """Reserve ``count`` consecutive keys and return the first."""
        nxt = self._next.get(table)
        if nxt is None:
            lock = self._locks.setdefault(table, asyncio.Lock())
            async with lock:
                nxt = self._next.get(table)
                if nxt is None:
                    nxt = await seed() + 1
        self._next[table] = nxt + count
        return nxt

    def observe(self, table: tuple[str, str], key: int) -> None:
        """An explicit key was inserted: never hand it out later."""
        nxt = self._next.get(table)
        if nxt is not None and key >= nxt:
            self._next[table] = key + 1

    def forget(self, table: tuple[str, str]) -> None:
        """The table was dropped or truncated: seed again on next use."""
        self._next.pop(table, None)
