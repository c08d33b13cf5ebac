"""Fans endpoint-list changes out to Watch streams.

Stores only say *which* services may have changed (or "any"); the hub re-resolves each watched service
and pushes a new list, with a bumped version, only to watchers of services whose list really changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from sdk.registry import Endpoint
from txcoord.store.outage import STORE_OUTAGE, is_outage

log = logging.getLogger(__name__)
Resolver = Callable[[str], Awaitable[list[Endpoint]]]


def _fingerprint(endpoints: list[Endpoint]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((ep.address, ep.lease_id) for ep in endpoints))


class WatchHub:
    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._watchers: dict[str, set[asyncio.Queue[tuple[int, list[Endpoint]]]]] = {}
        self._last: dict[str, tuple[tuple[str, str], ...]] = {}
        self._versions: dict[str, int] = {}
        self._pending: set[str] = set()
        self._pending_all = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_loop(), name="registry-watch-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def changed(self, services: set[str] | None) -> None:
        """Called by the store; cheap and synchronous: the refresh runs in the hub's own task."""
        if services is None:
            self._pending_all = True
        else:
            self._pending |= services
        self._wake.set()

    async def _refresh_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            targets = set(self._watchers) if self._pending_all else self._pending & set(self._watchers)
            self._pending_all, self._pending = False, set()
            for service in targets:
                try:
                    await self._refresh(service)
                except Exception as exc:
                    if is_outage(exc):  # said once per outage; the next change (or the poll) refreshes them
                        STORE_OUTAGE.failed(exc)
                        continue
                    log.exception("registry: refreshing watchers of %r failed; will retry on next change", service)

    async def _refresh(self, service: str) -> None:
        endpoints = await self._resolve(service)
        fingerprint = _fingerprint(endpoints)
        if self._last.get(service) == fingerprint:
            return
        self._last[service] = fingerprint
        version = self._versions.get(service, 0) + 1
        self._versions[service] = version
        for queue in self._watchers.get(service, ()):
            queue.put_nowait((version, endpoints))

    async def watch(self, service: str) -> AsyncIterator[tuple[int, list[Endpoint]]]:
        """The current list first, then every change, until the consumer stops iterating."""
        queue: asyncio.Queue[tuple[int, list[Endpoint]]] = asyncio.Queue()
        self._watchers.setdefault(service, set()).add(queue)
        try:
            endpoints = await self._resolve(service)
            self._last.setdefault(service, _fingerprint(endpoints))
            yield self._versions.setdefault(service, 1), endpoints
            while True:
                version, endpoints = await queue.get()
                # Several changes may be queued: only the newest matters.
                while not queue.empty():
                    version, endpoints = queue.get_nowait()
                yield version, endpoints
        finally:
            watchers = self._watchers.get(service)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[service]
                    self._last.pop(service, None)
