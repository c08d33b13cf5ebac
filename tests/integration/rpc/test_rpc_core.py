"""The RPC core against real servers: deadlines, UNAVAILABLE retries, reflection, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sdk import ActionNotFound, RpcError
from sdk.rpc import ChannelPool, RpcServer
from tests.support import free_port


async def _slow(payload: Any, context: grpc.aio.ServicerContext) -> Any:
    await asyncio.sleep(payload["seconds"])
    return {"ok": True}


async def _reject(payload: Any, context: grpc.aio.ServicerContext) -> Any:
    raise ValueError("amount: must be positive")


async def _server(listen: str = "127.0.0.1:0") -> RpcServer:
    server = RpcServer(listen)
    server.add_json_service("test.Rpc", {"slow": _slow, "reject": _reject})
    await server.start()
    return server


async def test_unary_calls_get_the_pool_default_deadline() -> None:
    server = await _server()
    pool = ChannelPool(default_timeout=0.3)
    try:
        with pytest.raises(RpcError) as caught:
            await pool.invoke_json(server.address, "test.Rpc", "slow", {"seconds": 5})
        assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert await pool.invoke_json(server.address, "test.Rpc", "slow", {"seconds": 0}) == {"ok": True}
    finally:
        await pool.close()
        await server.stop(0)


async def test_unavailable_is_retried_until_the_server_comes_up() -> None:
    address = f"127.0.0.1:{free_port()}"
    pool = ChannelPool()

    async def start_later() -> RpcServer:
        await asyncio.sleep(0.7)  # the scenario, not a wait: the server appears while the call is retrying
        return await _server(address)

    starter = asyncio.create_task(start_later())
    try:
        reply = await pool.invoke_json(address, "test.Rpc", "slow", {"seconds": 0}, timeout=5)
        assert reply == {"ok": True}
    finally:
        server = await starter
        await pool.close()
        await server.stop(0)


async def test_unavailable_fails_by_the_deadline_when_nobody_listens() -> None:
    pool = ChannelPool()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RpcError) as caught:
        await pool.invoke_json(f"127.0.0.1:{free_port()}", "test.Rpc", "slow", {"seconds": 0}, timeout=0.5)
    assert caught.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert loop.time() - started < 2.0
    await pool.close()


async def test_handler_value_errors_are_invalid_argument_and_unknown_actions_name_service_and_action() -> None:
    server = await _server()
    pool = ChannelPool()
    try:
        with pytest.raises(RpcError) as caught:
            await pool.invoke_json(server.address, "test.Rpc", "reject", {})
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "amount: must be positive" in caught.value.details
        with pytest.raises(ActionNotFound) as missing:
            await pool.invoke_json(server.address, "test.Rpc", "transfer", {})
        assert "'test.Rpc'" in str(missing.value) and "'transfer'" in str(missing.value)
    finally:
        await pool.close()
        await server.stop(0)


async def test_reflection_lists_health_and_json_services() -> None:
    server = await _server()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            names = {s.name async for reply in replies for s in reply.list_services_response.service}
        assert {"grpc.health.v1.Health", "test.Rpc"} <= names
    finally:
        await server.stop(0)
