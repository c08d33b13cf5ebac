"""Registry client: registers endpoints and keeps their leases alive over one stream, resolves and watches
services, and recovers by itself (re-register, re-watch) after the registry restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

import grpc

from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.errors import RegistryError
from sdk.invocation import ActionInvoker
from sdk.registry.model import Endpoint, Lease, validate_registration
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.client import ChannelPool, translate_error
from sdk.rpc.security import ClientSecurity

log = logging.getLogger(__name__)


class RegistryClient:
    """Talks to one registry server, or the first answering of several (``addresses``)."""

    def __init__(
        self,
        addresses: str | Sequence[str],
        *,
        pool: ChannelPool | None = None,
        timeout: float = 3.0,
        security: ClientSecurity | None = None,
    ):
        self._addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self._addresses:
            raise RegistryError("registry: no address given")
        self._current = 0
        self._own_pool = pool is None
        self.pool = pool or ChannelPool(default_timeout=timeout, security=security)
        self.actions = ActionInvoker(self.pool)  # calls the services it resolves, over gRPC or HTTP
        self.timeout = timeout
        self._leases: dict[str, Lease] = {}
        self._keepalive_task: asyncio.Task[None] | None = None
        self._leases_changed = asyncio.Event()
        self._closed = False
        self._keepalive_ok = True

    @property
    def address(self) -> str:
        return self._addresses[self._current]

    def _stub(self) -> registry_pb2_grpc.RegistryStub:
        return registry_pb2_grpc.RegistryStub(self.pool.channel(self.address))

    def _rotate(self) -> None:
        self._current = (self._current + 1) % len(self._addresses)

    async def _unary(self, method: str, request: object) -> object:
        """One unary call, trying each registry address once on UNAVAILABLE."""
        last: grpc.aio.AioRpcError | None = None
        for _ in self._addresses:
            try:
                return await getattr(self._stub(), method)(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    break
                self._rotate()
        assert last is not None
        raise translate_error(last, target=self.address) from last

    # -- leases ---------------------------------------------------------------------------------

    async def register(
        self, service: str, address: str, ttl: float = 10.0, metadata: dict[str, str] | None = None
    ) -> Lease:
        """Register ``address`` for ``service``; the lease is kept alive until ``deregister`` or ``close``."""
        validate_registration(service, address, ttl, metadata)
        lease = Lease(service, address, ttl, dict(metadata or {}))
        await self._register_lease(lease)
        self._leases[lease.lease_id] = lease
        self._leases_changed.set()
        if self._keepalive_task is None:
            self._keepalive_task = asyncio.create_task(self._keepalive_loop(), name="registry-keepalive")
        return lease

    async def _register_lease(self, lease: Lease) -> None:
        reply = await self._unary(
            "Register",
            registry_pb2.RegisterRequest(
                service=lease.service,
                address=lease.address,
                ttl_seconds=lease.ttl,
                metadata=lease.metadata,
                lease_id=lease.lease_id,
            ),
        )
        assert isinstance(reply, registry_pb2.RegisterResponse)
        lease.lease_id = reply.endpoint.lease_id
        lease.expires_at = reply.endpoint.expires_at

    async def deregister(self, lease: Lease) -> None:
        self._leases.pop(lease.lease_id, None)
        self._leases_changed.set()
        await self._unary("Deregister", registry_pb2.DeregisterRequest(lease_id=lease.lease_id))

    async def _keepalive_loop(self) -> None:
        delays = backoff_delays(initial=0.1, maximum=1.0)
        while not self._closed:
            try:
                await self._keepalive_stream()
                delays = backoff_delays(initial=0.1, maximum=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the stream: reconnect, never give the lease up
                reason = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
                # Say it once per outage, not once per retry.
                log.log(
                    logging.INFO if self._keepalive_ok else logging.DEBUG,
                    "registry keep-alive lost (%s); retrying",
                    reason,
                )
                self._keepalive_ok = False
                self._rotate()
                await asyncio.sleep(next(delays))
                # The registry may have restarted with an empty (memory) store: register everything again.
                with contextlib.suppress(Exception):
                    for lease in list(self._leases.values()):
                        await self._register_lease(lease)

    async def _keepalive_stream(self) -> None:
        call = self._stub().KeepAlive()
        try:
            while not self._closed:
                leases = list(self._leases.values())
                for lease in leases:
                    await call.write(registry_pb2.KeepAliveRequest(lease_id=lease.lease_id))
                for _ in leases:
                    reply = await asyncio.wait_for(call.read(), timeout=self.timeout)
                    if reply is grpc.aio.EOF:
                        raise RegistryError("keep-alive stream closed by the registry")
                    assert isinstance(reply, registry_pb2.KeepAliveResponse)
                    lease_or_none = self._leases.get(reply.lease_id)
                    if lease_or_none is None:
                        continue
                    self._keepalive_ok = True
                    if reply.found:
                        lease_or_none.expires_at = reply.expires_at
                    else:  # expired or unknown to this registry: take it back
                        await self._register_lease(lease_or_none)
                interval = min((lease.ttl for lease in self._leases.values()), default=1.0) / 3
                self._leases_changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._leases_changed.wait(), timeout=interval)
        finally:
            call.cancel()

    # -- lookups --------------------------------------------------------------------------------

    async def resolve(self, service: str) -> list[Endpoint]:
        reply = await self._unary("Resolve", registry_pb2.ResolveRequest(service=service))
        assert isinstance(reply, registry_pb2.ResolveResponse)
        return [Endpoint.from_proto(ep) for ep in reply.endpoints]

    async def list_all(self) -> list[Endpoint]:
        reply = await self._unary("List", registry_pb2.ListRequest())
        assert isinstance(reply, registry_pb2.ListResponse)
        return [Endpoint.from_proto(ep) for ep in reply.endpoints]

    async def watch(self, service: str) -> AsyncIterator[list[Endpoint]]:
        """Yield the endpoint list now and after every change; survives registry restarts (re-watches)."""
        delays = backoff_delays(initial=0.1, maximum=1.0)
        while not self._closed:
            call = self._stub().Watch(registry_pb2.WatchRequest(service=service))
            try:
                async for reply in call:
                    delays = backoff_delays(initial=0.1, maximum=1.0)
                    yield [Endpoint.from_proto(ep) for ep in reply.endpoints]
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    raise translate_error(exc, target=self.address) from exc
                log.info("registry watch of %r interrupted (%s); re-watching", service, exc.code().name)
            finally:
                call.cancel()
            self._rotate()
            await asyncio.sleep(next(delays))

    async def close(self, *, deregister: bool = True) -> None:
        """Stop keep-alives; deregister this client's leases first unless ``deregister`` is False."""
        if deregister:
            for lease in list(self._leases.values()):
                with contextlib.suppress(Exception):
                    await self.deregister(lease)
        self._closed = True
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive_task
        await self.actions.close()
        if self._own_pool:
            await self.pool.close()
