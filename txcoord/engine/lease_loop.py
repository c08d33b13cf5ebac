"""The background loop every kind of recovery shares: claim the transactions of its mode whose owner's lease
lapsed (or that this node owned before a restart) and drive them, and keep the leases of those driven here
alive.

A subclass says what it does with a claimed transaction (and may do more before each claim); the loop owns
the claim, the renewal, the timing (a scan every ``interval``, a renewal every third of a lease, a scan at once
when poked) and the failure policy (a store outage is reported once per outage, and the loop keeps trying).
Claiming is one statement with ``FOR UPDATE SKIP LOCKED``, so several coordinators recover side by side
without blocking each other or claiming the same transaction; running it twice changes nothing."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from txcoord.engine.driven import DrivenHere
from txcoord.engine.store import Store
from txcoord.store.outage import STORE_OUTAGE, report_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoverySettings:
    interval: float = 1.0  # seconds between scans
    lease: float = 10.0  # seconds a claimed transaction stays ours without renewal
    batch: int = 100  # transactions claimed per scan


class Driver(Protocol):
    """What drives one mode's transactions here: the TCC phase-2 driver, the saga orchestrator."""

    owner: str  # this coordinator's node id, the owner its leases are held under
    driven: DrivenHere


class LeaseLoop(abc.ABC):
    name = "recovery"

    def __init__(self, store: Store, driver: Driver, settings: RecoverySettings) -> None:
        self.store = store
        self.driver = driver
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()

    async def before_claim(self) -> int:
        """Work of a scan before its claim; how many transactions it started driving."""
        return 0

    @abc.abstractmethod
    async def take(self, gid: str, previous: str | None) -> int:
        """Drive ``gid``, claimed from ``previous`` (its owner before, maybe this node); 1 if it started, else 0."""

    async def scan(self) -> int:
        """One pass: claim what nobody drives and drive it; returns how many it started driving."""
        started = await self.before_claim()
        owner, driven = self.driver.owner, self.driver.driven
        for gid, previous in await self.store.claim(owner, self.settings.lease, self.settings.batch, driven.active):
            started += await self.take(gid, previous)
        return started

    async def renew(self) -> None:
        """Extend the leases of everything driven here."""
        active = self.driver.driven.active
        if active:
            await self.store.renew(self.driver.owner, self.settings.lease, active)

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
