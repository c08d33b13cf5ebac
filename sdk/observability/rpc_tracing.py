"""gRPC spans on both ends (OpenTelemetry semantic conventions: ``{rpc.service}/{rpc.method}``, ``rpc.system``,
``rpc.service``, ``rpc.method``, ``rpc.grpc.status_code``), with the W3C ``traceparent`` in the call's metadata.
Installed only when tracing is on. Unary calls only: a long-lived stream (the session stream, registry watch) is
no unit of work; what travels on the session stream carries its own traceparent (``SessionRequest``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from sdk.observability.rpc_metrics import split_method
from sdk.observability.tracing import start_span, traceparent_of, tracing_enabled
from sdk.rpc.context import GID_KEY, TRACEPARENT_KEY


def _metadata_value(metadata: Any, key: str) -> str | None:
    for k, v in metadata or ():
        if k == key:
            return str(v)
    return None


def _attributes(path: str, gid: str | None) -> dict[str, Any]:
    service, method = split_method(path)
    attributes: dict[str, Any] = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
    if gid:
        attributes["txc.gid"] = gid
    return attributes


class TracingServerInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        path = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        parent = _metadata_value(metadata, TRACEPARENT_KEY)
        gid = _metadata_value(metadata, GID_KEY)
        behavior: Callable[..., Any] = handler.unary_unary

        async def traced(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with start_span(
                path.lstrip("/"), kind="server", attributes=_attributes(path, gid), traceparent=parent
            ) as span:
                try:
                    return await behavior(request, context)
                finally:
                    code = context.code()
                    span.set_attribute("rpc.grpc.status_code", _code_value(code))

        return grpc.unary_unary_rpc_method_handler(traced, handler.request_deserializer, handler.response_serializer)


def _code_value(code: Any) -> int:
    if code is None:
        return 0
    return int(code.value[0]) if isinstance(code, grpc.StatusCode) else int(code)


class TracingClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        method = client_call_details.method
        path = method.decode() if isinstance(method, bytes) else method
        items = [(k, v) for k, v in (client_call_details.metadata or ()) if k != TRACEPARENT_KEY]
        gid = _metadata_value(items, GID_KEY)
        with start_span(path.lstrip("/"), kind="client", attributes=_attributes(path, gid)) as span:
            items.append((TRACEPARENT_KEY, traceparent_of(span)))
            details = grpc.aio.ClientCallDetails(
                method=client_call_details.method,
                timeout=client_call_details.timeout,
                metadata=items,
                credentials=client_call_details.credentials,
                wait_for_ready=client_call_details.wait_for_ready,
            )
            call = await continuation(details, request)
            code = grpc.StatusCode.OK
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            span.set_attribute("rpc.grpc.status_code", _code_value(code))
        return call


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    return [TracingServerInterceptor()] if tracing_enabled() else []


def client_interceptors() -> list[Any]:
    return [TracingClientInterceptor()] if tracing_enabled() else []
