"""Recovery: roll back transactions past their timeout, take over decided ones whose owner's lease expired
(or that this node owned before a restart), and keep the leases of the ones driven here alive.

Claiming is one statement with ``FOR UPDATE SKIP LOCKED``, so several coordinators recover side by side
without blocking each other or claiming the same transaction; running it twice changes nothing."""

from __future__ import annotations

from txcoord.engine.lease_loop import LeaseLoop, RecoverySettings
from txcoord.engine.phase2 import Phase2Driver
from txcoord.model import phase2_of
from txcoord.store.base import Store

__all__ = ["Recovery", "RecoverySettings"]


class Recovery(LeaseLoop):
    name = "recovery"

    def __init__(self, store: Store, driver: Phase2Driver, settings: RecoverySettings) -> None:
        super().__init__(settings)
        self.store = store
        self.driver = driver

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
