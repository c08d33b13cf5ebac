"""How the orchestrator reads a failed call of a saga step: final (no identical attempt can change the answer),
undelivered (it cannot have reached a participant's code), undeliverable for too long (only a person can finish the
step)."""

from __future__ import annotations

import time

import grpc

from sdk.errors import NoEndpoints, RpcError
from sdk.saga import EvaluationError

# a participant's answer that another identical attempt cannot change: the business refused, the barrier
# refused (the step was compensated already), the arguments are wrong, or there is no such action
FINAL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def final_answer(exc: BaseException) -> bool:
    return isinstance(exc, RpcError) and exc.code in FINAL_CODES


def undelivered(exc: BaseException) -> bool:
    """The call cannot have reached a participant's code: nobody serves the service, or it has no such action."""
    return isinstance(exc, NoEndpoints | EvaluationError) or (
        isinstance(exc, RpcError) and exc.code == grpc.StatusCode.UNIMPLEMENTED
    )


class NeedsPerson(Exception):
    """A compensation or forward step no retry can deliver: the saga was marked for a person and is no longer
    driven here."""


class Undeliverable:
    """How long a step's calls have gone undelivered in a row (no endpoint, no such action): past the bound, only
    a person can finish the step. A delivered failure starts the count again."""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.since: float | None = None

    def past_bound(self, error: BaseException) -> bool:
        if not undelivered(error):
            self.since = None
            return False
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        return now - self.since >= self.bound
