"""Recovery: roll back transactions past their timeout, take over decided ones whose owner's lease expired
(or that this node owned before a restart), and keep the leases of the ones driven here alive.

Claiming is one statement with ``FOR UPDATE SKIP LOCKED``, so several coordinators recover side by side
without blocking each other or claiming the same transaction; running it twice changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from txcoord.engine.phase2 import Phase2Driver
from txcoord.model import phase2_of
from txcoord.store.base import Store
from txcoord.store.outage import STORE_OUTAGE, is_outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoverySettings:
    interval: float = 1.0  # seconds between scans
    lease: float = 10.0  # seconds a claimed transaction stays ours without renewal
    batch: int = 100  # transactions claimed per scan


class Recovery:
    def __init__(self, store: Store, driver: Phase2Driver, settings: RecoverySettings) -> None:
        self.store = store
        self.driver = driver
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="recovery")

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
                if is_outage(exc):
                    STORE_OUTAGE.failed(exc)  # said once per outage, not once per scan
                else:
                    log.warning("recovery scan failed: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poke.wait(), min(self.settings.interval, renew_every))
            self._poke.clear()

    async def scan(self) -> int:
        """One pass: time out, claim, drive. Returns how many transactions it started driving."""
        started = 0
        owner, lease, batch = self.driver.owner, self.settings.lease, self.settings.batch
        for gid in await self.store.expire_timed_out(owner, lease, batch):
            await self.store.add_event(gid, None, "timed_out", "still in BEGIN at its deadline; rolling back")
            started += await self._drive(gid)
        for gid, previous in await self.store.claim(owner, lease, batch, self.driver.active):
            if previous and previous != owner:
                await self.store.add_event(gid, None, "taken_over", f"from {previous} (lease expired)")
            started += await self._drive(gid)
        return started

    async def _drive(self, gid: str) -> int:
        tx = await self.store.get(gid)
        if tx is None or not tx.state.deciding_phase2 or self.driver.is_active(gid):
            return 0
        self.driver.drive(gid, phase2_of(tx.state), tx.branches, failures=tx.attempts, not_before=tx.next_attempt_at)
        return 1

    async def renew(self) -> None:
        active = self.driver.active
        if active:
            await self.store.renew(self.driver.owner, self.settings.lease, active)
