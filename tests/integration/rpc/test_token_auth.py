"""The token check on a real gRPC server: every protected registry call, unary and streaming, is refused
without it (or with a wrong one) before the registry acts; reads stay open."""

from __future__ import annotations

import grpc
import pytest

from sdk._proto import registry_pb2, registry_pb2_grpc
from sdk.rpc import RpcServer, ServerSecurity
from txcoord.registry import MemoryRegistryStore, RegistryServer

TOKEN = "t0ken-for-the-test"


@pytest.fixture
async def registry() -> object:
    service = RegistryServer(MemoryRegistryStore())
    server = RpcServer("127.0.0.1:0", name="registry", security=ServerSecurity(token=TOKEN))
    service.attach(server)
    await service.open()
    await server.start()
    yield server
    await server.stop(0)
    await service.close()


def _meta(token: str | None) -> tuple[tuple[str, str], ...] | None:
    return (("authorization", f"Bearer {token}"),) if token is not None else None


@pytest.mark.parametrize(("token", "code"), [(None, "UNAUTHENTICATED"), ("wrong", "PERMISSION_DENIED")])
async def test_protected_registry_calls_need_the_token(registry: RpcServer, token: str | None, code: str) -> None:
    async with grpc.aio.insecure_channel(registry.address) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)
        request = registry_pb2.RegisterRequest(service="bank", address="127.0.0.1:1", ttl_seconds=5)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Register(request, metadata=_meta(token), timeout=5)
        assert raised.value.code().name == code and "Register" in (raised.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Deregister(registry_pb2.DeregisterRequest(lease_id="x"), metadata=_meta(token), timeout=5)
        assert raised.value.code().name == code
        stream = stub.KeepAlive(metadata=_meta(token))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stream.write(registry_pb2.KeepAliveRequest(lease_id="x"))
            await stream.read()
        assert raised.value.code().name == code
        # Reads are open, and nothing was registered.
        assert list((await stub.Resolve(registry_pb2.ResolveRequest(service="bank"), timeout=5)).endpoints) == []
        # The right token passes.
        reply = await stub.Register(request, metadata=_meta(TOKEN), timeout=5)
        assert reply.endpoint.service == "bank"
