"""The background loop every kind of recovery shares: scan for work whose owner's lease lapsed (or that this
node owned before a restart) and drive it, and keep the leases of what is driven here alive.

A subclass says what a scan claims and what a renewal covers; the loop owns the timing (a scan every
``interval``, a renewal every third of a lease, a scan at once when poked) and the failure policy (a store
outage is reported once per outage, and the loop keeps trying)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from dataclasses import dataclass

from txcoord.store.outage import STORE_OUTAGE, report_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoverySettings:
    interval: float = 1.0  # seconds between scans
    lease: float = 10.0  # seconds a claimed transaction stays ours without renewal
    batch: int = 100  # transactions claimed per scan


class LeaseLoop(abc.ABC):
    name = "recovery"

    def __init__(self, settings: RecoverySettings) -> None:
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()

    @abc.abstractmethod
    async def scan(self) -> int:
        """One pass: claim what nobody drives and drive it; returns how many it started driving."""

    @abc.abstractmethod
    async def renew(self) -> None:
        """Extend the leases of everything driven here."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    def poke(self) -> None:
        """Scan now instead of at the next interval."""
        self._poke.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        renew_every = self.settings.lease / 3
        loop = asyncio.get_running_loop()
        last_renew = loop.time()
        while True:
            try:
                await self.scan()
                if loop.time() - last_renew >= renew_every:
                    await self.renew()
                    last_renew = loop.time()
                STORE_OUTAGE.ok()
            except Exception as exc:  # the store may be briefly down: keep trying
                report_failure(exc, log, "%s scan failed: %s", self.name, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poke.wait(), min(self.settings.interval, renew_every))
            self._poke.clear()
