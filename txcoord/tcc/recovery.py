"""TCC recovery: roll back transactions past their timeout, take over decided ones whose owner's lease expired
(or that this node owned before a restart), and keep the leases of the ones driven here alive (the loop itself
is ``txcoord.engine.lease_loop``)."""

from __future__ import annotations

from txcoord.engine.lease_loop import LeaseLoop, RecoverySettings
from txcoord.tcc.model import Phase2, phase2_of
from txcoord.tcc.phase2 import UNTRIED_EVENT, Phase2Driver
from txcoord.tcc.store_protocol import TccStore

__all__ = ["RecoverySettings", "TccRecovery"]


class TccRecovery(LeaseLoop):
    name = "recovery"

    def __init__(self, store: TccStore, driver: Phase2Driver, settings: RecoverySettings) -> None:
        super().__init__(store, driver, settings)
        self.tcc_store = store
        self.phase2 = driver

    async def before_claim(self) -> int:
        """Time out what is still in BEGIN past its deadline: decided rollback, owned here, driven."""
        started = 0
        for gid in await self.tcc_store.expire_timed_out(self.driver.owner, self.settings.lease, self.settings.batch):
            await self.store.add_event(gid, None, "timed_out", "still in BEGIN at its deadline; rolling back")
            started += await self._drive(gid)
        return started

    async def take(self, gid: str, previous: str | None) -> int:
        if previous and previous != self.driver.owner:
            await self.store.add_event(gid, None, "taken_over", f"from {previous} (lease expired)")
        return await self._drive(gid, owner_rolled_back=True)

    async def _drive(self, gid: str, *, owner_rolled_back: bool = False) -> int:
        tx = await self.tcc_store.get(gid)
        if tx is None or not tx.state.deciding_phase2 or self.driver.driven.is_active(gid):
            return 0
        op = phase2_of(tx.state)
        untried: frozenset[str] = frozenset()
        if owner_rolled_back and op is Phase2.CANCEL and any(not b.done for b in tx.branches):
            # the branches its owner listed untried (Coordinator.rollback): their cancels keep that meaning here
            untried = frozenset(
                e.branch_id for e in await self.store.events(gid) if e.event == UNTRIED_EVENT and e.branch_id
            )
        self.phase2.drive(gid, op, tx.branches, failures=tx.attempts, not_before=tx.next_attempt_at, untried=untried)
        return 1
