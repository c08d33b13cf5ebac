"""How every coordinator service answers a failed operation, for a unary call and for one operation of the
session stream alike: the error's own status (``CoordinatorError.status``), a store outage as UNAVAILABLE (callers
retry) said once per outage, a bug as INTERNAL with a traceback in the log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import grpc

from txcoord.errors import CoordinatorError, StoreError
from txcoord.store.outage import STORE_OUTAGE, OutageLog, brief, is_outage

log = logging.getLogger(__name__)
T = TypeVar("T")


def status_of(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, CoordinatorError):
        return exc.status
    if isinstance(exc, OSError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def failure(exc: BaseException, outage: OutageLog = STORE_OUTAGE) -> tuple[grpc.StatusCode, str]:
    """The status and message a failed operation is answered with (reporting a store outage to ``outage``)."""
    if isinstance(exc, CoordinatorError):
        if isinstance(exc, StoreError):
            outage.failed(exc)
        return status_of(exc), str(exc)
    if is_outage(exc):  # the store went away mid-call: retryable, one log line per outage
        outage.failed(exc)
        return grpc.StatusCode.UNAVAILABLE, f"coordinator store unavailable, retry: {brief(exc)}"
    log.exception("coordinator: unexpected error")
    return grpc.StatusCode.INTERNAL, f"coordinator internal error: {exc}"


async def answer(context: grpc.aio.ServicerContext, work: Awaitable[T], *, outage: OutageLog = STORE_OUTAGE) -> T:
    """The result of ``work``, or its failure as a gRPC status."""
    try:
        result = await work
    except Exception as exc:
        await context.abort(*failure(exc, outage))
    outage.ok()
    return result
