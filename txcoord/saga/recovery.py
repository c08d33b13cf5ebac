"""Saga recovery: claim RUNNING / COMPENSATING sagas whose owner's lease lapsed (or that this node owned
before a restart) and resume them from their log; keep the leases of the sagas driven here alive.

The same ownership as TCC phase 2 (owner + lease on the transaction row, one ``FOR UPDATE SKIP LOCKED``
claim), so several coordinators share the work and running recovery twice changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from txcoord.engine.recovery import RecoverySettings
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.store import SagaStore
from txcoord.store.outage import report_failure

log = logging.getLogger(__name__)


class SagaRecovery:
    def __init__(self, store: SagaStore, orchestrator: SagaOrchestrator, settings: RecoverySettings) -> None:
        self.store = store
        self.orchestrator = orchestrator
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="saga-recovery")

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
            except Exception as exc:  # the store may be briefly down: keep trying
                report_failure(exc, log, "saga recovery scan failed: %s", exc)
            await asyncio.sleep(min(self.settings.interval, renew_every))

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
