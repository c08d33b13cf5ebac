"""Every gRPC method's calls and latency by status code, on both ends: one server interceptor, one client
interceptor. Labels are the proto service and method (or a participant's service and action name) and the status
code: names the code defines, never a value a caller sends (an unknown method is not instrumented)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from prometheus_client import Histogram

from sdk.observability.metrics_http import metrics_enabled
from sdk.rpc.context import EveryCallKindInterceptor
from sdk.rpc.context import client_interceptors as every_call_kind

# gRPC calls here run from about a hundred microseconds (loopback) to a phase-2 deadline
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_families: dict[str, Histogram] = {}


_FAMILIES = {
    "server": ("txc_rpc_server_duration_seconds", "gRPC calls served by this process"),
    "client": ("txc_rpc_client_duration_seconds", "gRPC calls made by this process"),
    # the coordinator's REST API: each route is its gRPC method, labelled as that method's calls are
    "rest": ("txc_rest_server_duration_seconds", "REST API calls served by this process (each route is a gRPC method)"),
}


def _family(side: str) -> Histogram:
    family = _families.get(side)
    if family is None:
        name, what = _FAMILIES[side]
        family = _families[side] = Histogram(
            name,
            f"{what}: latency by service, method and status code (the _count series counts the calls)",
            ["rpc_service", "rpc_method", "code"],
            buckets=LATENCY_BUCKETS,
        )
    return family


def split_method(path: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = path.lstrip("/").rpartition("/")
    return service, method


class Timings:
    """Pre-bound histogram children per (method path, code): a call costs a dict lookup and an observe."""

    def __init__(self, side: str) -> None:
        self.family = _family(side)
        self.children: dict[tuple[str, Any], Any] = {}

    def observe(self, path: str, code: Any, seconds: float) -> None:
        key = (path, code)
        child = self.children.get(key)
        if child is None:
            service, method = split_method(path)
            name = code.name if isinstance(code, grpc.StatusCode) else str(code)
            child = self.children[key] = self.family.labels(service, method, name)
        child.observe(seconds)


def _code_of(context: grpc.aio.ServicerContext, failed: BaseException | None) -> Any:
    code = context.code()
    if code is not None:
        return code if isinstance(code, grpc.StatusCode) else _BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
    if failed is None:
        return grpc.StatusCode.OK
    return grpc.StatusCode.CANCELLED if isinstance(failed, asyncio.CancelledError) else grpc.StatusCode.UNKNOWN


_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


class MetricsServerInterceptor(grpc.aio.ServerInterceptor):
    """Times every call a server answers, whatever its kind (unary or streaming)."""

    def __init__(self) -> None:
        self.timings = Timings("server")

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # UNIMPLEMENTED: the method name is the caller's text, not a label value
        path = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._timed(path, handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._timed(path, handler.unary_stream), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._timed(path, handler.stream_unary), handler.request_deserializer, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            self._timed(path, handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )

    def _timed(self, path: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        observe = self.timings.observe
        if inspect.isasyncgenfunction(behavior):

            async def streamed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                started = time.perf_counter()
                failed: BaseException | None = None
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException as exc:
                    failed = exc
                    raise
                finally:
                    observe(path, _code_of(context, failed), time.perf_counter() - started)

            return streamed

        async def answered(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            failed: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                failed = exc
                raise
            finally:
                observe(path, _code_of(context, failed), time.perf_counter() - started)

        return answered


class MetricsClientInterceptor(EveryCallKindInterceptor):
    """Times every call this process makes: unary calls to their answer, streams to their end. Installed through
    ``sdk.rpc.context.client_interceptors``: grpc.aio would file it under unary-unary calls only."""

    def __init__(self) -> None:
        self.timings = Timings("client")

    @staticmethod
    def _path(details: grpc.aio.ClientCallDetails) -> str:
        method = details.method
        return method.decode() if isinstance(method, bytes) else method

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        call = await continuation(client_call_details, request)
        code = grpc.StatusCode.OK
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            self.timings.observe(self._path(client_call_details), code, time.perf_counter() - started)
        return call  # done: the caller's await gets its answer (or its error) at once

    def _streamed(self, details: grpc.aio.ClientCallDetails, call: Any) -> Any:
        started = time.perf_counter()
        path = self._path(details)

        async def ended() -> None:
            try:
                code = await call.code()
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
            self.timings.observe(path, code, time.perf_counter() - started)

        _pending.add(task := asyncio.ensure_future(ended()))
        task.add_done_callback(_pending.discard)
        return call

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return self._streamed(client_call_details, await continuation(client_call_details, request))

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return self._streamed(client_call_details, await continuation(client_call_details, request_iterator))

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return self._streamed(client_call_details, await continuation(client_call_details, request_iterator))


_pending: set[asyncio.Future[None]] = set()  # stream watchers, kept referenced until their stream ends

_server_interceptor: MetricsServerInterceptor | None = None
_client_interceptors: list[grpc.aio.ClientInterceptor] = []


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The server-side metrics interceptor when metrics are on, else nothing (no cost when off)."""
    global _server_interceptor
    if not metrics_enabled():
        return []
    if _server_interceptor is None:
        _server_interceptor = MetricsServerInterceptor()
    return [_server_interceptor]


def client_interceptors() -> list[Any]:
    """The client-side metrics interceptor, once per kind of call, when metrics are on, else nothing."""
    if not metrics_enabled():
        return []
    if not _client_interceptors:
        _client_interceptors.extend(every_call_kind(MetricsClientInterceptor()))
    return list(_client_interceptors)
