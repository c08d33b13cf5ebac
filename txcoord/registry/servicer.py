"""The Registry gRPC service: validates input, delegates to the store, streams changes from the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.errors import ConfigError
from sdk.registry import validate_registration
from sdk.rpc.authorization import current_identity
from txcoord import validation
from txcoord.errors import InvalidArgument, NotPermitted
from txcoord.registry.store import RegistryStore
from txcoord.registry.watch_hub import WatchHub


def _holder() -> str | None:
    """The identity a lease belongs to (None: security off, or an admin, who may touch any lease)."""
    identity = current_identity.get()
    return None if identity is None or identity.admin else identity.name


class RegistryServicer(registry_pb2_grpc.RegistryServicer):
    def __init__(self, store: RegistryStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub

    async def Register(
        self, request: registry_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.RegisterResponse:
        try:
            validation.service(request.service)
            if len(request.address) > validation.MAX_NAME:
                raise InvalidArgument(f"address: at most {validation.MAX_NAME} characters, got {len(request.address)}")
            validate_registration(request.service, request.address, request.ttl_seconds, request.metadata)
            validation.ttl(request.ttl_seconds)
            validation.metadata(request.metadata)
            if request.lease_id:
                validation.branch_id(request.lease_id, "lease_id")
        except (ConfigError, InvalidArgument) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)[:300])
        identity = current_identity.get()
        if identity is not None and not identity.may_register(request.service):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"service: identity {identity.name!r} may not register {validation.shown(request.service)}",
            )
        try:
            endpoint = await self.store.register(
                request.service,
                request.address,
                request.ttl_seconds,
                dict(request.metadata),
                request.lease_id,
                _holder(),
            )
        except NotPermitted as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return registry_pb2.RegisterResponse(endpoint=endpoint.to_proto())

    async def KeepAlive(
        self, request_iterator: AsyncIterator[registry_pb2.KeepAliveRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.KeepAliveResponse]:
        holder = _holder()
        async for request in request_iterator:
            expires_at = await self.store.keepalive(request.lease_id, holder)
            yield registry_pb2.KeepAliveResponse(
                lease_id=request.lease_id, found=expires_at is not None, expires_at=expires_at or 0.0
            )

    async def Deregister(
        self, request: registry_pb2.DeregisterRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.DeregisterResponse:
        if not request.lease_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "lease_id: must not be empty")
        return registry_pb2.DeregisterResponse(found=await self.store.deregister(request.lease_id, _holder()))

    async def Resolve(
        self, request: registry_pb2.ResolveRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.ResolveResponse:
        try:
            validation.service(request.service)
        except InvalidArgument as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        endpoints = await self.store.resolve(request.service)
        return registry_pb2.ResolveResponse(endpoints=[ep.to_proto() for ep in endpoints])

    async def Watch(
        self, request: registry_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.WatchResponse]:
        try:
            validation.service(request.service)
        except InvalidArgument as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        async for version, endpoints in self.hub.watch(request.service):
            yield registry_pb2.WatchResponse(
                service=request.service, version=version, endpoints=[ep.to_proto() for ep in endpoints]
            )

    async def List(
        self, request: registry_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.ListResponse:
        return registry_pb2.ListResponse(endpoints=[ep.to_proto() for ep in await self.store.list_all()])
