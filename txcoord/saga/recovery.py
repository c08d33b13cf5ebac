"""Saga recovery: claim RUNNING / COMPENSATING sagas whose owner's lease lapsed (or that this node owned
before a restart) and resume them from their log; keep the leases of the sagas driven here alive.

The same ownership as TCC phase 2 (owner + lease on the transaction row, one ``FOR UPDATE SKIP LOCKED``
claim), so several coordinators share the work and running recovery twice changes nothing."""

from __future__ import annotations

from txcoord.engine.lease_loop import LeaseLoop, RecoverySettings
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.store import SagaStore


class SagaRecovery(LeaseLoop):
    name = "saga-recovery"

    def __init__(self, store: SagaStore, orchestrator: SagaOrchestrator, settings: RecoverySettings) -> None:
        super().__init__(settings)
        self.store = store
        self.orchestrator = orchestrator

    async def scan(self) -> int:
        owner = self.orchestrator.owner
        claimed = await self.store.claim(owner, self.settings.lease, self.settings.batch, self.orchestrator.active)
        for gid, previous in claimed:
            if self.orchestrator.is_active(gid):  # started here while the claim ran
                continue
            if previous and previous != owner:
                await self.store.add_event(gid, None, "taken_over", f"from {previous} (lease expired)")
            elif previous == owner:
                await self.store.add_event(gid, None, "resumed", f"by {owner} after a restart")
            self.orchestrator.drive(gid)
        return len(claimed)

    async def renew(self) -> None:
        active = self.orchestrator.active
        if active:
            await self.store.renew(self.orchestrator.owner, self.settings.lease, active)
