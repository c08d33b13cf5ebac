"""Sagas marked for a person (COMPENSATION_FAILED, FORWARD_FAILED): what `txc saga retry` and `txc saga resolve` do.

The orchestrator marks a saga when a compensation, or a forward step, cannot be delivered for longer than the
unregistered bound (its service or action is gone). A person then either brings the service back and retries, or
does the step by hand and says so: compensated it (a saga compensating), or completed it with the output it
would have returned (a saga going forward). Either way the saga goes back to being driven by this coordinator,
which finishes what is left. Each act is in the timeline with who did it."""

from __future__ import annotations

import json
from typing import Any

from txcoord.errors import InvalidArgument, InvalidState, TransactionNotFound
from txcoord.model import TxState
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.records import COMPENSABLE, SagaInstance, StepState
from txcoord.saga.store import SagaStore, StepByHand

MARKED = (TxState.COMPENSATION_FAILED, TxState.FORWARD_FAILED)
_HINT = (
    "only a saga marked for a person (COMPENSATION_FAILED, FORWARD_FAILED) is retried or resolved; see `txc saga show`"
)
NO_OUTPUT = object()  # resolve of a compensation: a person undid the step, which returns nothing


class SagaAttention:
    def __init__(self, store: SagaStore, orchestrator: SagaOrchestrator) -> None:
        self.store = store
        self.orchestrator = orchestrator

    async def _marked(self, gid: str, operation: str) -> SagaInstance:
        instance = await self.store.load(gid)
        if instance is None:
            raise TransactionNotFound(gid)
        if instance.state not in MARKED:
            raise InvalidState(gid, instance.state, operation, _HINT)
        return instance

    async def retry(self, gid: str, by: str) -> str:
        """Deliver again what could not be delivered (the service is back): the saga's state once the retry is
        under way (COMPENSATING, or RUNNING going forward)."""
        instance = await self._marked(gid, "retry")
        what = "compensation" if instance.state == TxState.COMPENSATION_FAILED else "forward steps"
        state = await self.store.reopen(gid, self.orchestrator.owner, "retried", f"{what} retried by {by}")
        if state is None:
            raise InvalidState(gid, "changed meanwhile", "retry", _HINT)
        self.orchestrator.drive(gid)
        return state.value

    async def resolve(self, gid: str, step_id: str, by: str, output: Any = NO_OUTPUT) -> str:
        """A person did ``step_id`` by hand: compensated it (a saga COMPENSATION_FAILED), or completed it with
        ``output`` as its result (FORWARD_FAILED). Recorded, then the rest is driven as usual."""
        instance = await self._marked(gid, "resolve")
        record = instance.steps.get(step_id)
        if record is None:
            known = ", ".join(sorted(instance.steps))
            raise InvalidArgument(f"step: saga {gid!r} has no step {step_id!r} (its steps: {known})")
        if instance.state == TxState.FORWARD_FAILED:
            by_hand = self._completed(step_id, record.state, output)
            shown = by_hand.output_json if len(by_hand.output_json or "") <= 200 else "(see the step's output)"
            detail = f"completed by hand, by {by}, with output {shown}"
        else:
            if output is not NO_OUTPUT:
                raise InvalidArgument(
                    "output: only a forward step completed by hand has an output; this saga is compensating "
                    "(resolve says a person undid the step)"
                )
            if record.state not in COMPENSABLE:
                raise InvalidArgument(
                    f"step: {step_id!r} is {record.state.value}: nothing to compensate by hand "
                    "(`txc saga show` lists the step waiting for a person)"
                )
            by_hand, detail = StepByHand(step_id), f"compensated by hand, by {by}"
        state = await self.store.reopen(gid, self.orchestrator.owner, "resolved", detail, by_hand)
        if state is None:
            raise InvalidState(gid, "changed meanwhile", "resolve", _HINT)
        self.orchestrator.drive(gid)
        return state.value

    @staticmethod
    def _completed(step_id: str, state: StepState, output: Any) -> StepByHand:
        if state is not StepState.RUNNING:
            raise InvalidArgument(
                f"step: {step_id!r} is {state.value}: only the forward step waiting for a person is completed by "
                "hand (`txc saga show` lists it)"
            )
        return StepByHand(step_id, json.dumps(None if output is NO_OUTPUT else output, separators=(",", ":")))
