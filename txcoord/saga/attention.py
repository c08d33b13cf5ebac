"""Sagas marked for a person (COMPENSATION_FAILED): what `txc saga retry` and `txc saga resolve` do.

The orchestrator marks a saga when a compensation cannot be delivered for longer than the unregistered
bound (its service or action is gone). A person then either brings the service back and retries, or undoes
the step by hand and says so; either way the saga returns to COMPENSATING, owned and driven by this
coordinator, which compensates what is left and ends it COMPENSATED. Each act is in the timeline with who
did it."""

from __future__ import annotations

from txcoord.errors import InvalidArgument, InvalidState, TransactionNotFound
from txcoord.model import TxState
from txcoord.saga.orchestrator import COMPENSABLE, SagaOrchestrator
from txcoord.saga.records import SagaInstance
from txcoord.saga.store import SagaStore

_HINT = "only a saga marked for a person (COMPENSATION_FAILED) is retried or resolved; see `txc saga show`"


class SagaAttention:
    def __init__(self, store: SagaStore, orchestrator: SagaOrchestrator) -> None:
        self.store = store
        self.orchestrator = orchestrator

    async def _marked(self, gid: str, operation: str) -> SagaInstance:
        instance = await self.store.load(gid)
        if instance is None:
            raise TransactionNotFound(gid)
        if instance.state != TxState.COMPENSATION_FAILED:
            raise InvalidState(gid, instance.state, operation, _HINT)
        return instance

    async def retry(self, gid: str, by: str) -> str:
        """Compensate again (the service is back): the saga's state once the retry is under way."""
        await self._marked(gid, "retry")
        if not await self.store.reopen(gid, self.orchestrator.owner, "retried", f"compensation retried by {by}"):
            raise InvalidState(gid, "changed meanwhile", "retry", _HINT)
        self.orchestrator.drive(gid)
        return TxState.COMPENSATING.value

    async def resolve(self, gid: str, step_id: str, by: str) -> str:
        """A person undid ``step_id`` by hand: record it, then compensate the rest."""
        instance = await self._marked(gid, "resolve")
        record = instance.steps.get(step_id)
        if record is None:
            known = ", ".join(sorted(instance.steps))
            raise InvalidArgument(f"step: saga {gid!r} has no step {step_id!r} (its steps: {known})")
        if record.state not in COMPENSABLE:
            raise InvalidArgument(
                f"step: {step_id!r} is {record.state.value}: nothing to compensate by hand "
                "(`txc saga show` lists the step waiting for a person)"
            )
        detail = f"compensated by hand, by {by}"
        if not await self.store.reopen(gid, self.orchestrator.owner, "resolved", detail, resolved_step=step_id):
            raise InvalidState(gid, "changed meanwhile", "resolve", _HINT)
        self.orchestrator.drive(gid)
        return TxState.COMPENSATING.value
