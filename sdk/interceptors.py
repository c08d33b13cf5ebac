"""Participant interceptors: a hook around every action call a participant serves.

    async def log_calls(call: ActionCall, proceed: Proceed) -> ActionReply:
        log.info("%s %s/%s %s", call.op, call.gid, call.branch_id, call.arguments)
        return await proceed(call)

    Participant("bank-a", [debit, credit], barrier=PgBarrier(pool), interceptors=[log_calls])

An interceptor gets one :class:`ActionCall` (gid, branch, op, action, arguments) and ``proceed``, which runs the
rest of the chain and finally the barrier and the phase function. It may act before (delay, inject a fault by
raising), after (record the barrier outcome, measure), or around (``try``/``except`` to see errors) the call,
and may call ``proceed`` with a changed ``ActionCall`` (``dataclasses.replace``). An exception an interceptor
raises is answered like one from the phase (a failed try, a confirm or cancel to retry). The first interceptor in the
list is the outermost. Every phase call goes through the chain, also the confirms and cancels that arrive in
one batched phase-2 message, and saga steps (an action as op ``try``, its compensation as ``cancel``); malformed
requests are refused before it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sdk.barrier import BarrierOutcome
from sdk.tcc_wire import Op


@dataclass(frozen=True)
class ActionCall:
    """One call of a phase of a TCC action, as the participant is about to run it."""

    gid: str
    branch_id: str
    op: Op
    service: str
    action: str
    arguments: dict[str, Any]  # validated, as the Python types the phase function declares


@dataclass(frozen=True)
class ActionReply:
    """What the phase returned (None unless ``barrier`` is APPLIED) and what the barrier decided."""

    result: Any
    barrier: BarrierOutcome


#: the rest of the chain (and finally the barrier and the phase function), as an interceptor calls it
Proceed = Callable[[ActionCall], Awaitable[ActionReply]]
#: ``async def interceptor(call: ActionCall, proceed: Proceed) -> ActionReply``: a hook around every phase call
Interceptor = Callable[[ActionCall, Proceed], Awaitable[ActionReply]]


def chain(interceptors: Sequence[Interceptor], innermost: Proceed) -> Proceed:
    """``innermost`` wrapped by ``interceptors``, the first one outermost."""
    proceed = innermost
    for interceptor in reversed(interceptors):
        proceed = _bind(interceptor, proceed)
    return proceed


def _bind(interceptor: Interceptor, proceed: Proceed) -> Proceed:
    async def call(action_call: ActionCall) -> ActionReply:
        return await interceptor(action_call, proceed)

    return call
