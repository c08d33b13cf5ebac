"""The saga orchestrator: the registry of the saga runs of this coordinator. It starts a run (``txcoord.saga.run``)
for each saga it is handed (a start, a recovery claim, a person's retry), keeps it in the set of gids driven here
(recovery leaves them alone), tells callers waiting for a saga's end, and stops them all at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from txcoord.engine.driven import DrivenHere
from txcoord.model import TxState
from txcoord.saga.definitions import Definitions
from txcoord.saga.errors import LostOwnership
from txcoord.saga.invoker import StepInvoker
from txcoord.saga.records import SagaInstance
from txcoord.saga.run import SagaRun
from txcoord.saga.store import SagaStore
from txcoord.store.outage import STORE_OUTAGE, is_outage

log = logging.getLogger(__name__)


class SagaOrchestrator:
    def __init__(
        self,
        store: SagaStore,
        definitions: Definitions,
        invoker: StepInvoker,
        owner: str,
        *,
        unregistered_bound: float = 60.0,
    ) -> None:
        self.store = store
        # seconds a call may stay undeliverable (no endpoint, no such action) before a person is needed
        self.unregistered_bound = unregistered_bound
        self.definitions = definitions
        self.invoker = invoker
        self.owner = owner
        self.driven = DrivenHere("saga")
        self._finished: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}  # callers waiting for a saga's end, per gid
        self._ended: dict[str, SagaInstance] = {}  # sagas someone waits for, once they ended here

    def drive(self, gid: str, instance: SagaInstance | None = None) -> None:
        """Start driving ``gid`` unless already driven here; returns at once. ``instance``: what was just
        written at its start (saves reading it back)."""
        if self.driven.running(gid):
            return
        self._finished.setdefault(gid, asyncio.Event())
        self.driven.start(gid, self._run(gid, instance), ended=self._forget)

    def _forget(self, gid: str) -> None:
        event = self._finished.pop(gid, None)
        if event is not None:
            event.set()

    async def wait(self, gid: str, timeout: float) -> SagaInstance | None:
        """Until ``gid`` is terminal in the store, or ``timeout`` seconds passed. Returns the instance when
        it succeeded while driven here: then this copy is what the log holds (each write returned its times
        and completion numbers), and the caller needs no round trip. Otherwise None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._finished.get(gid)
        if event is not None:  # driven here: its end is an event
            self._waiting[gid] = self._waiting.get(gid, 0) + 1
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
            finally:
                self._waiting[gid] -= 1
                if not self._waiting[gid]:
                    del self._waiting[gid]
            ended = self._ended.get(gid)
            if ended is not None:
                if gid not in self._waiting:
                    self._ended.pop(gid, None)
                return ended if ended.state == TxState.SUCCEEDED else None
        while loop.time() < deadline:
            state = await self.store.state(gid)
            if state is None or TxState(state).terminal:
                return None
            await asyncio.sleep(min(0.2, max(deadline - loop.time(), 0)))
        return None

    async def close(self) -> None:
        await self.driven.close()

    # -- one run ---------------------------------------------------------------------------------------------------
    async def _run(self, gid: str, instance: SagaInstance | None = None) -> None:
        try:
            if instance is None:
                instance = await self.store.load(gid)
            if instance is None:
                return
            saga = await self.definitions.get(instance.name, instance.version)
            await SagaRun(instance, saga, self.store, self.invoker, self.owner, self.unregistered_bound).run()
            if gid in self._waiting and TxState(instance.state).terminal:
                self._ended[gid] = instance
        except LostOwnership:
            log.info("%s: another coordinator owns this saga now; leaving it", gid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # the saga stops being driven here; recovery (here, or elsewhere once the lease lapses) resumes it
            # from its log
            if is_outage(exc):
                STORE_OUTAGE.failed(exc)  # one line per outage, not one per saga
                log.info("%s: saga interrupted by the store outage; recovery will resume it", gid)
            else:
                log.exception("%s: saga interrupted; recovery will resume it", gid)
