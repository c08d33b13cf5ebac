"""A grpc.aio server with what every txcoord process needs: standard health service, reflection,
generic JSON services, gid/trace context, and a graceful shutdown on SIGTERM that drains in-flight calls."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sdk.errors import ConfigError, RpcError
from sdk.observability.rpc_metrics import server_interceptors as metrics_interceptors
from sdk.observability.rpc_tracing import server_interceptors as tracing_interceptors
from sdk.rpc.address import format_address, parse_address
from sdk.rpc.authorization import RULES, AuthorizationInterceptor, Rule
from sdk.rpc.codec import decode_json, encode_json
from sdk.rpc.context import ContextServerInterceptor
from sdk.rpc.decode_guard import DecodeGuardInterceptor
from sdk.rpc.security import ServerSecurity, is_loopback

log = logging.getLogger(__name__)

JsonHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
ShutdownHook = Callable[[], Awaitable[None]]

SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.so_reuseport", 0),
]


def _json_method(service: str, action: str, handler: JsonHandler) -> grpc.RpcMethodHandler:
    async def behavior(payload: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(payload, context)
        except RpcError as exc:
            await context.abort(exc.code, exc.details)
        except (ConfigError, ValueError, TypeError) as exc:
            where, text = f"{service}.{action}", str(exc)  # said once, whether or not the handler said it
            message = text if text.startswith(where) else f"{where}: {text}"
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)

    return grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=decode_json, response_serializer=encode_json
    )


class RpcServer:
    """Usage: ``server = RpcServer("127.0.0.1:0"); server.add_servicer(...); await server.start()``."""

    def __init__(
        self,
        listen: str = "127.0.0.1:0",
        *,
        name: str = "",
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        security: ServerSecurity | None = None,
    ) -> None:
        self._host, self._port = parse_address(listen, field="listen")
        self.name = name or "txcoord"
        # Default: the environment (TXC_TLS_CERT, TXC_TOKEN, ...); see sdk.rpc.security.
        self.security = security if security is not None else ServerSecurity.from_env()
        self._credentials = self.security.credentials()  # bad TLS files fail here, before anything listens
        # who may call what: one table (sdk.rpc.authorization), extended by the JSON services added here
        self.rules: dict[str, Rule] = dict(RULES)
        self.identities = self.security.identities()
        # read-only methods need no credential on a loopback-only listener (nobody off this machine reaches it)
        authorization = AuthorizationInterceptor(self.rules, self.identities, loopback=is_loopback(self._host))
        # [] when metrics and tracing are off; outermost, so refusals are counted and traced too
        outer = [*metrics_interceptors(), *tracing_interceptors()]
        self._server = grpc.aio.server(
            interceptors=[*outer, authorization, ContextServerInterceptor(), *interceptors, DecodeGuardInterceptor()],
            options=SERVER_OPTIONS,
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self._service_names: list[str] = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        self.servicers: dict[str, object] = {}  # full service name -> servicer: other fronts call the same ones
        self._bound_port: int | None = None
        self._stopped = asyncio.Event()

    @property
    def address(self) -> str:
        """The address clients dial: the listen host and the port actually bound."""
        if self._bound_port is None:
            raise RuntimeError("RpcServer.address is known only after start()")
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else "::1" if self._host == "::" else self._host
        return format_address(host, self._bound_port)

    @property
    def listening(self) -> str:
        """Where it listens, as bound: ``0.0.0.0:PORT`` is every interface, and what it logs must say so."""
        if self._bound_port is None:
            raise RuntimeError("RpcServer.listening is known only after start()")
        return format_address(self._host, self._bound_port)

    def add_servicer(self, add_to_server: Callable[[Any, Any], None], servicer: object, service_name: str) -> None:
        """Add a generated-stub servicer; ``service_name`` is its full proto name (for health and reflection)."""
        add_to_server(servicer, self._server)
        self._service_names.append(service_name)
        self.servicers[service_name] = servicer

    def add_json_service(self, service: str, actions: Mapping[str, JsonHandler], rule: Rule = Rule.SIGNED) -> None:
        """Serve ``actions`` under ``service`` with JSON request and response bodies (generic invocation).
        ``rule``: who may call them; a participant's phase calls carry the coordinator's branch signature."""
        if not service:
            raise ConfigError("service: must not be empty")
        self.rules.update({f"/{service}/{action}": rule for action in actions})
        handlers = {action: _json_method(service, action, fn) for action, fn in actions.items()}
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        self._service_names.append(service)

    async def start(self) -> None:
        where = format_address(self._host, self._port)
        protects = any(
            method.split("/")[1] in self._service_names and rule not in (Rule.OPEN, Rule.SIGNED)
            for method, rule in self.rules.items()
        )
        self.security.check_listen(self._host, where, protects=protects)
        reflection.enable_server_reflection([*self._service_names, reflection.SERVICE_NAME], self._server)
        if self._credentials is None:
            self._bound_port = self._server.add_insecure_port(where)
        else:
            self._bound_port = self._server.add_secure_port(where, self._credentials)
        if self._bound_port == 0:
            raise ConfigError(f"listen: cannot bind {format_address(self._host, self._port)}")
        await self._server.start()
        for name in ("", *self._service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving on %s (%s)", self.name, self.listening, "TLS" if self.security.tls else "plaintext")

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING, refuse new calls and let in-flight ones finish for up to ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def serve_until_signal(self, on_shutdown: Sequence[ShutdownHook] = (), grace: float = 5.0) -> None:
        """Serve until SIGTERM or SIGINT; then run ``on_shutdown`` hooks (e.g. deregister) and drain."""
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, signalled.set)
        try:
            stopped = asyncio.ensure_future(self._stopped.wait())
            signal_wait = asyncio.ensure_future(signalled.wait())
            await asyncio.wait({stopped, signal_wait}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            signal_wait.cancel()
            if signalled.is_set():
                log.info("%s: signal received, shutting down", self.name)
                await self.health.enter_graceful_shutdown()
                for hook in on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("%s: shutdown hook failed", self.name)
                await self.stop(grace)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
