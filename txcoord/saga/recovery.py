"""Saga recovery: claim RUNNING / COMPENSATING sagas whose owner's lease lapsed (or that this node owned
before a restart) and resume them from their log; keep the leases of the sagas driven here alive.

The same ownership and loop as TCC phase 2 (``txcoord.engine.lease_loop``), so several coordinators share the
work and running recovery twice changes nothing."""

from __future__ import annotations

from txcoord.engine.lease_loop import LeaseLoop, RecoverySettings
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.store import SagaStore


class SagaRecovery(LeaseLoop):
    name = "saga-recovery"

    def __init__(self, store: SagaStore, orchestrator: SagaOrchestrator, settings: RecoverySettings) -> None:
        super().__init__(store, orchestrator, settings)
        self.orchestrator = orchestrator

    async def take(self, gid: str, previous: str | None) -> int:
        owner = self.driver.owner
        if self.driver.driven.is_active(gid):  # started here while the claim ran
            return 1
        if previous and previous != owner:
            await self.store.add_event(gid, None, "taken_over", f"from {previous} (lease expired)")
        elif previous == owner:
            await self.store.add_event(gid, None, "resumed", f"by {owner} after a restart")
        self.orchestrator.drive(gid)
        return 1
