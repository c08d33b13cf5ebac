"""An undecodable request gets INVALID_ARGUMENT naming what it should have been, and no server log line.

gRPC decodes a request with the method's ``request_deserializer`` before any of our code runs; when that raises,
grpc.aio answers UNKNOWN and logs a traceback for every such request (a client, or an attacker, can fill a
server's log that way). :class:`DecodeGuardInterceptor` moves decoding into the handler: the method gets raw bytes
and a wrapper decodes them, so a bad body is an ordinary refusal."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from sdk.rpc.handler_wrapping import HandlerWrappingInterceptor

Deserializer = Callable[[bytes], Any]


def _what(deserializer: Deserializer) -> str:
    """``txcoord.coordinator.v1.BeginRequest`` for a generated ``FromString``, ``JSON`` for the JSON codec."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    full_name = getattr(descriptor, "full_name", None)
    if isinstance(full_name, str):
        return f"a {full_name} message"
    return "JSON" if getattr(deserializer, "__name__", "") == "decode_json" else "the method's request type"


async def _decode(deserializer: Deserializer, data: bytes, context: grpc.aio.ServicerContext, what: str) -> Any:
    try:
        return deserializer(data)
    except Exception as exc:  # protobuf DecodeError, JSONDecodeError, UnicodeDecodeError, ...
        reason = type(exc).__name__
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request: not {what} ({reason}, {len(data)} bytes)")


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _guard_unary(behavior: Callable[..., Any], deserializer: Deserializer, what: str) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream_reply(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request = await _decode(deserializer, data, context, what)
            async for reply in behavior(request, context):
                yield reply

        return stream_reply

    async def reply(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        request = await _decode(deserializer, data, context, what)
        return await _result(behavior(request, context))

    return reply


def _guard_stream(behavior: Callable[..., Any], deserializer: Deserializer, what: str) -> Callable[..., Any]:
    def decoded(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def each() -> AsyncIterator[Any]:
            async for data in requests:
                yield await _decode(deserializer, data, context, what)

        return each()

    if inspect.isasyncgenfunction(behavior):

        async def stream_reply(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for reply in behavior(decoded(requests, context), context):
                yield reply

        return stream_reply

    async def reply(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        return await _result(behavior(decoded(requests, context), context))

    return reply


def guarded(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The same handler, taking raw bytes and decoding them itself (a bad body is INVALID_ARGUMENT)."""
    deserializer = handler.request_deserializer
    if deserializer is None:
        return handler
    what = _what(deserializer)
    incoming = "stream" if handler.request_streaming else "unary"
    kind = f"{incoming}_{'stream' if handler.response_streaming else 'unary'}"
    behavior = getattr(handler, kind)
    guard = _guard_stream if handler.request_streaming else _guard_unary
    replaced: grpc.RpcMethodHandler = handler._replace(  # type: ignore[attr-defined]  # a namedtuple
        request_deserializer=None, **{kind: guard(behavior, deserializer, what)}
    )
    return replaced


class DecodeGuardInterceptor(HandlerWrappingInterceptor):
    """Wraps every method's handler with :func:`guarded` (once per method, then cached)."""

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        return guarded(handler)
