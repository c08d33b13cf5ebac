"""A store outage, told apart from a bug, and logged once: one line when it starts, one when it ends.

During an outage every request, every phase-2 driver and every recovery scan fails; logging each (with a
traceback) buried the one fact a person needs (issue #7: 260 tracebacks for one outage). Every part of a
coordinator process reports to the one :data:`STORE_OUTAGE`, since a process has one store."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc

from sdk.rpc.handler_wrapping import HandlerWrappingInterceptor
from txcoord.errors import StoreUnavailable

log = logging.getLogger("txcoord.store")

_OUTAGE_ERRORS = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # no answer in time (pool acquire, command timeout)
    StoreUnavailable,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InterfaceError,  # the connection was closed in the middle of an operation
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin shutdown, crash recovery, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
)


def is_outage(exc: BaseException) -> bool:
    """A lost, refused or shut-down store connection (not a bug): the same call may succeed when it is back."""
    return isinstance(exc, _OUTAGE_ERRORS)


def refused(exc: BaseException) -> bool:
    """The store answered with an error (bad data, a constraint): it may be one request's fault, unlike an
    outage, which fails every request alike."""
    return isinstance(exc, asyncpg.PostgresError) and not is_outage(exc)


class OutageLog:
    """One log line when the store becomes unavailable, one when it is back: not one per failure.

    "Back" means ``settle`` seconds of successes with no failure: right after an outage the pool still holds
    connections the outage broke, and their first use fails once more; that is the same outage, not a new one."""

    def __init__(self, settle: float = 2.0) -> None:
        self.down = False
        self.settle = settle
        self._ok_since: float | None = None

    def failed(self, exc: BaseException) -> None:
        self._ok_since = None
        if not self.down:
            self.down = True
            log.error("coordinator store unavailable (answering UNAVAILABLE until it is back): %s", brief(exc))

    def ok(self) -> None:
        if not self.down:
            return
        now = time.monotonic()
        if self._ok_since is None:
            self._ok_since = now
        elif now - self._ok_since >= self.settle:
            self.down = False
            self._ok_since = None
            log.warning("coordinator store available again")


def brief(exc: BaseException) -> str:
    """The exception in one line, its type included (``ConnectionResetError: [Errno 104] ...``)."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


STORE_OUTAGE = OutageLog()


class _PoolOutageFilter(logging.Filter):
    """asyncpg's pool logs "Failed to restore the pool connection floor" with a traceback each time it retries
    during an outage; that is the outage, already said once."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_outage(exc):
            STORE_OUTAGE.failed(exc)
            return False
        return True


def quiet_pool_outages() -> None:
    """Route asyncpg pool's outage tracebacks to :data:`STORE_OUTAGE` (idempotent)."""
    pool_log = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, _PoolOutageFilter) for f in pool_log.filters):
        pool_log.addFilter(_PoolOutageFilter())


def report_failure(exc: BaseException, logger: logging.Logger, message: str, *args: object) -> None:
    """For a background loop that failed: a store outage goes to :data:`STORE_OUTAGE` (one line per outage),
    anything else is logged as ``message`` at WARNING."""
    if is_outage(exc):
        STORE_OUTAGE.failed(exc)
    else:
        logger.warning(message, *args)


async def _unavailable(exc: Exception, context: grpc.aio.ServicerContext) -> None:
    STORE_OUTAGE.failed(exc)
    await context.abort(grpc.StatusCode.UNAVAILABLE, f"coordinator store unavailable, retry: {brief(exc)}"[:300])


def _guarded(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                async for reply in behavior(request, context):
                    yield reply
            except Exception as exc:
                if not is_outage(exc):
                    raise
                await _unavailable(exc, context)

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result
        except Exception as exc:
            if not is_outage(exc):
                raise
            await _unavailable(exc, context)

    return unary


class OutageInterceptor(HandlerWrappingInterceptor):
    """Every service of a coordinator process (registry and sagas included) answers a store outage with
    UNAVAILABLE and a readable message, reported to :data:`STORE_OUTAGE`, instead of grpc's UNKNOWN and a
    traceback per request."""

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        kind = ("stream" if handler.request_streaming else "unary") + (
            "_stream" if handler.response_streaming else "_unary"
        )
        wrapped: grpc.RpcMethodHandler = handler._replace(  # type: ignore[attr-defined]  # a namedtuple
            **{kind: _guarded(getattr(handler, kind))}
        )
        return wrapped
