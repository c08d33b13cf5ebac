"""The global transaction id and trace context of the current task, and the interceptors that carry them
across processes in gRPC metadata (``txc-gid``, W3C ``traceparent``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import grpc

from sdk.rpc.authorization import sends_credential

GID_KEY = "txc-gid"
TRACEPARENT_KEY = "traceparent"

current_gid: ContextVar[str | None] = ContextVar("txc_gid", default=None)
current_traceparent: ContextVar[str | None] = ContextVar("txc_traceparent", default=None)


def new_traceparent() -> str:
    """A fresh W3C trace context (version 00, sampled)."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


@contextlib.contextmanager
def txn_context(gid: str | None = None, traceparent: str | None = None) -> Iterator[None]:
    """Run the block with ``gid`` / ``traceparent`` as the current context (None leaves a value as it is)."""
    tokens = []
    if gid is not None:
        tokens.append((current_gid, current_gid.set(gid)))
    if traceparent is not None:
        tokens.append((current_traceparent, current_traceparent.set(traceparent)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def outgoing_metadata(metadata: Any) -> list[tuple[str, str]] | Any:
    """``metadata`` plus the current gid and traceparent, unless the caller set them explicitly."""
    gid, trace = current_gid.get(), current_traceparent.get()
    if gid is None and trace is None:
        return metadata
    items = list(metadata or ())
    present = {key for key, _ in items}
    if gid is not None and GID_KEY not in present:
        items.append((GID_KEY, gid))
    if trace is not None and TRACEPARENT_KEY not in present:
        items.append((TRACEPARENT_KEY, trace))
    return items


def _details_with(
    details: grpc.aio.ClientCallDetails, *, timeout: float | None, auth: tuple[tuple[str, str], ...] = ()
) -> grpc.aio.ClientCallDetails:
    metadata = outgoing_metadata(details.metadata)
    if auth:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        if sends_credential(method):  # to the txcoord services only, never to a participant
            # a Metadata object: grpc.aio drops a plain list on stream calls
            metadata = grpc.aio.Metadata(*(metadata or ()), *auth)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class EveryCallKindInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """A client interceptor for all four kinds of call: install it through :func:`client_interceptors`."""


class ContextClientInterceptor(EveryCallKindInterceptor):
    """Adds gid + traceparent to every call, the token (``auth`` metadata) to protected calls, and a default
    deadline to unary calls that have none. Streams (watch, keep-alive) are long-lived by design and get no
    default deadline."""

    def __init__(self, default_timeout: float, auth: tuple[tuple[str, str], ...] = ()) -> None:
        self.default_timeout = default_timeout
        self.auth = auth

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        timeout = client_call_details.timeout
        return await continuation(
            _details_with(
                client_call_details,
                timeout=self.default_timeout if timeout is None else timeout,
                auth=self.auth,
            ),
            request,
        )

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(
            _details_with(client_call_details, timeout=client_call_details.timeout, auth=self.auth), request
        )

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(
            _details_with(client_call_details, timeout=client_call_details.timeout, auth=self.auth), request_iterator
        )

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(
            _details_with(client_call_details, timeout=client_call_details.timeout, auth=self.auth), request_iterator
        )


def _context_from(metadata: Any) -> tuple[str | None, str | None]:
    gid = trace = None
    for key, value in metadata or ():
        if key == GID_KEY:
            gid = value
        elif key == TRACEPARENT_KEY:
            trace = value
    return gid, trace


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], gid: str | None, trace: str | None):  # type: ignore[no-untyped-def]
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        with txn_context(gid, trace):
            return await behavior(request, context)

    return wrapper


class ContextServerInterceptor(grpc.aio.ServerInterceptor):
    """Makes the caller's gid and traceparent the current context while a unary handler runs."""

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        gid, trace = _context_from(handler_call_details.invocation_metadata)
        if handler is None or (gid is None and trace is None) or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(handler.unary_unary, gid, trace),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, inner: EveryCallKindInterceptor) -> None:
        self.inner = inner

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await self.inner.intercept_unary_stream(continuation, client_call_details, request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, inner: EveryCallKindInterceptor) -> None:
        self.inner = inner

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await self.inner.intercept_stream_unary(continuation, client_call_details, request_iterator)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, inner: EveryCallKindInterceptor) -> None:
        self.inner = inner

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return await self.inner.intercept_stream_stream(continuation, client_call_details, request_iterator)


def client_interceptors(inner: EveryCallKindInterceptor) -> list[grpc.aio.ClientInterceptor]:
    """``inner`` for every kind of call. grpc.aio files an interceptor under the first kind it implements (an
    if/elif chain), so one object implementing all four would only ever see unary calls: the session stream and
    the registry's keep-alives would go without their token and context (or uncounted, for the metrics)."""
    return [inner, _UnaryStream(inner), _StreamUnary(inner), _StreamStream(inner)]
