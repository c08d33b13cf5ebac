"""A process that serves JSON actions and keeps them registered: the shape of every participant.

``ServiceServer`` starts an ``RpcServer``, registers each service in the registry with a lease, and on SIGTERM
deregisters first (so callers stop picking it at once) and then drains in-flight calls.

One word per role across the repository: a ``*Server`` is what a process runs to serve (``ServiceServer`` here,
``txcoord``'s ``CoordinatorServer`` and ``RegistryServer``), built on ``sdk.rpc.RpcServer`` (the gRPC listener);
a ``*Servicer`` is the handlers of one gRPC service (grpc's own word)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc

from sdk.errors import ConfigError, RpcError
from sdk.observability.tracing import setup_tracing
from sdk.registry import Lease, RegistryClient
from sdk.rpc import ClientSecurity, JsonHandler, RpcServer, ServerSecurity
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.security import CA_ENV, CERT_ENV, KEY_ENV

log = logging.getLogger(__name__)


async def register_waiting(
    registry: RegistryClient, service: str, address: str, ttl: float, metadata: dict[str, str]
) -> Lease:
    """Register, waiting for a registry that is not up yet (started in any order, or restarting): the caller
    serves meanwhile and this says once that it waits, instead of exiting."""
    delays = backoff_delays(initial=0.2, maximum=5.0)
    waiting = False
    while True:
        try:
            lease = await registry.register(service, address, ttl, metadata)
        except RpcError as exc:
            if exc.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            if not waiting:
                log.warning("%s: registry unreachable (%s); retrying until it answers", service, exc.details)
                waiting = True
            await asyncio.sleep(next(delays))
            continue
        if waiting:
            log.info("%s: registered; the registry answers again", service)
        return lease


class ServiceServer:
    def __init__(
        self,
        listen: str,
        registry: str | Sequence[str],
        *,
        ttl: float = 10.0,
        metadata: dict[str, str] | None = None,
        name: str = "participant",
        security: ServerSecurity | None = None,
        client_security: ClientSecurity | None = None,
        advertise: str | None = None,
    ) -> None:
        setup_tracing(name)  # only if OTEL_* variables ask for it; before the server and its clients are made
        # None: both from the environment (TXC_TLS_*, TXC_TOKEN; see sdk.rpc.security).
        self.server = RpcServer(listen, name=name, security=security)
        self.registry = RegistryClient(registry, security=client_security)
        self.ttl = ttl
        self.advertise = advertise  # the address registered, when callers reach us through something in front
        self.metadata = dict(metadata or {})
        # run before anything listens or registers: a participant that cannot serve refuses to start
        self.checks: list[Callable[[], Awaitable[None]]] = []
        self._services: list[str] = []
        self.leases: list[Lease] = []

    def add_json_service(self, service: str, actions: Mapping[str, JsonHandler]) -> None:
        self.server.add_json_service(service, actions)
        self._services.append(service)

    def check_trust(self) -> None:
        """Refuse to register a plaintext endpoint in a deployment that dials TLS: every caller that trusts the
        deployment's CA would fail its handshake with this process, and would be told to fix itself."""
        if self.registry.pool.security.ca is not None and not self.server.security.tls:
            raise ConfigError(
                f"{self.server.name}: the registry is dialled over TLS ({CA_ENV} is set) but this process would "
                f"serve plaintext, so no caller could reach it: give it a certificate ({CERT_ENV} and {KEY_ENV}; "
                "docs/security.md says how to make one), or unset the CA to run the whole deployment in plaintext"
            )

    async def _register(self, service: str) -> Lease:
        address = self.advertise or self.server.address
        return await register_waiting(self.registry, service, address, self.ttl, self.metadata)

    async def start(self) -> None:
        self.check_trust()
        for check in self.checks:
            await check()
        await self.server.start()
        try:
            for service in self._services:
                self.leases.append(await self._register(service))
        except BaseException:  # the registry refused: stop listening, nobody can find us anyway
            await self.server.stop(0)
            raise

    async def deregister(self) -> None:
        for lease in self.leases:
            await self.registry.deregister(lease)
        self.leases.clear()

    async def stop(self, grace: float = 5.0) -> None:
        await self.deregister()
        await self.server.stop(grace)
        await self.registry.close()

    async def run(self, grace: float = 5.0) -> None:
        """Start, serve until SIGTERM/SIGINT, then deregister and drain."""
        try:
            await self.start()
            await self.server.serve_until_signal(on_shutdown=[self.deregister], grace=grace)
        finally:
            await self.registry.close()
