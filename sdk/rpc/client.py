"""Client side of the RPC core: one reused channel per endpoint, a default deadline on every unary call,
UNAVAILABLE retried with backoff inside the deadline, and generic JSON invocation of any action."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from sdk.errors import ActionNotFound, RpcError, rpc_error
from sdk.observability.rpc_metrics import client_interceptors as metrics_interceptors
from sdk.observability.rpc_tracing import client_interceptors as tracing_interceptors
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.codec import decode_json, encode_json, method_path
from sdk.rpc.context import ContextClientInterceptor, client_interceptors
from sdk.rpc.security import ClientSecurity
from sdk.rpc.tls_hints import tls_hint

DEFAULT_TIMEOUT = 10.0

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # Reconnect fast after a server restart: the default backoff grows to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


#: What gRPC's client side says when a connection breaks under a call (not a server's INTERNAL answer)
_BROKEN_CONNECTION = (
    "Internal error from Core",
    "connection was closed in the middle of operation",
    "unexpected connection_lost",
)


def translate_error(exc: grpc.aio.AioRpcError, *, service: str = "", action: str = "", target: str = "") -> RpcError:
    """The sdk's error for a failed call: ActionNotFound for an unknown generic action, RpcError otherwise."""
    code = exc.code()
    if code == grpc.StatusCode.UNIMPLEMENTED and service:
        return ActionNotFound(service, action, target=target)
    details = exc.details() or code.name
    if code == grpc.StatusCode.INTERNAL and any(text in details for text in _BROKEN_CONNECTION):
        # gRPC's own client side reports a connection that broke mid-call as INTERNAL; it is a transport
        # failure (the peer may be restarting), so callers see UNAVAILABLE and idempotent calls are retried
        code, details = grpc.StatusCode.UNAVAILABLE, f"the connection broke during the call ({details})"
    if code == grpc.StatusCode.UNAVAILABLE:
        details += tls_hint(details, target)  # a failed handshake: which side needs which setting
    return rpc_error(code, details, target=target)


class ChannelPool:
    """Channels keyed by address, created on first use and reused for the life of the pool."""

    def __init__(self, default_timeout: float = DEFAULT_TIMEOUT, *, security: ClientSecurity | None = None) -> None:
        self.default_timeout = default_timeout
        # Default: the environment (TXC_TLS_CA, TXC_TOKEN, ...), so every client of a deployment dials alike.
        self.security = security if security is not None else ClientSecurity.from_env()
        self._credentials = self.security.credentials()
        self._interceptors: list[Any] = [
            *client_interceptors(ContextClientInterceptor(default_timeout, self.security.metadata())),
            *metrics_interceptors(),  # [] when metrics are off
            *tracing_interceptors(),  # [] when tracing is off; innermost: its traceparent replaces the context's
        ]
        self._channels: dict[tuple[str, str | None], grpc.aio.Channel] = {}
        self._json_callables: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable] = {}

    def channel(self, address: str, server_name: str | None = None) -> grpc.aio.Channel:
        """The channel to ``address``; over TLS with ``server_name``, the server's certificate must name it
        (not the address): how a coordinator makes sure an endpoint is the service it means."""
        key = (address, server_name if self._credentials is not None else None)
        channel = self._channels.get(key)
        if channel is None:
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=self._interceptors)
            else:
                options = [*CHANNEL_OPTIONS, *([("grpc.ssl_target_name_override", key[1])] if key[1] else [])]
                channel = grpc.aio.secure_channel(
                    address, self._credentials, options=options, interceptors=self._interceptors
                )
            self._channels[key] = channel
        return channel

    async def discard(self, address: str) -> None:
        """Forget (and close) the channels of an endpoint that went away."""
        gone = [self._channels.pop(key) for key in [k for k in self._channels if k[0] == address]]
        for key in [k for k in self._json_callables if k[0] == address]:
            del self._json_callables[key]
        for channel in gone:
            await channel.close()

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        self._json_callables.clear()
        await asyncio.gather(*(channel.close() for channel in channels.values()), return_exceptions=True)

    def _json_callable(self, address: str, service: str, path: str) -> grpc.aio.UnaryUnaryMultiCallable:
        key = (address, path)
        call = self._json_callables.get(key)
        if call is None:
            server_name = service if self.security.service_names else None
            call = self.channel(address, server_name).unary_unary(
                path, request_serializer=encode_json, response_deserializer=decode_json
            )
            self._json_callables[key] = call
        return call

    async def invoke_json(
        self,
        address: str,
        service: str,
        action: str,
        payload: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        retry_unavailable: bool = True,
    ) -> Any:
        """Call ``service.action`` at ``address`` with a JSON payload; return the decoded JSON reply.

        UNAVAILABLE (the endpoint is down or restarting) is retried with backoff until the deadline
        unless ``retry_unavailable`` is False (callers that fail over to another endpoint instead)."""
        call = self._json_callable(address, service, method_path(service, action))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.default_timeout if timeout is None else timeout)
        delays = backoff_delays()
        while True:
            remaining = deadline - loop.time()
            try:
                return await call(payload, timeout=max(remaining, 0.001), metadata=tuple(metadata) or None)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and retry_unavailable:
                    delay = next(delays)
                    if deadline - loop.time() > delay:
                        await asyncio.sleep(delay)
                        continue
                raise translate_error(exc, service=service, action=action, target=address) from exc
