"""The client's gRPC metrics count every kind of call, not only unary ones: a real server and a channel of a
``ChannelPool`` made with metrics on make one call of each kind, and each shows up in
``txc_rpc_client_duration_seconds`` with its status code (streams once they end). grpc.aio files an interceptor
under the first kind it implements, so one object implementing all four used to count unary calls only: the
proxy's session stream went uncounted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client import REGISTRY

from sdk.observability import metrics_http
from sdk.rpc import ChannelPool, ClientSecurity

SERVICE = "t.Kinds"
FAMILY = "txc_rpc_client_duration_seconds_count"


async def _unary(request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _server_stream(request: bytes, _context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request


async def _client_stream(requests: AsyncIterator[bytes], _context: grpc.aio.ServicerContext) -> bytes:
    return b"".join([r async for r in requests])


async def _bidi(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "ends with an error code")


def _count(method: str, code: str = "OK") -> float:
    labels = {"rpc_service": SERVICE, "rpc_method": method, "code": code}
    return REGISTRY.get_sample_value(FAMILY, labels) or 0.0


async def _requests() -> AsyncIterator[bytes]:
    for chunk in (b"a", b"b"):
        yield chunk


async def test_every_kind_of_call_is_counted_by_the_client_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_http, "_enabled", True)  # as serve_metrics does, for the pool made below
    server = grpc.aio.server()
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    before = {m: _count(m) for m in handlers} | {"Bidi error": _count("Bidi", "FAILED_PRECONDITION")}
    pool = ChannelPool(security=ClientSecurity())
    channel = pool.channel(f"127.0.0.1:{port}")
    try:
        assert await channel.unary_unary(f"/{SERVICE}/Unary")(b"x", timeout=10) == b"x"
        assert [r async for r in channel.unary_stream(f"/{SERVICE}/ServerStream")(b"x", timeout=10)] == [b"x"] * 3
        assert await channel.stream_unary(f"/{SERVICE}/ClientStream")(_requests(), timeout=10) == b"ab"
        bidi = channel.stream_stream(f"/{SERVICE}/Bidi")(_requests(), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError):
            assert [r async for r in bidi] == [b"a", b"b"]

        async def all_counted() -> None:  # a stream is observed by a task watching for its end
            while not (
                _count("ServerStream") > before["ServerStream"]
                and _count("ClientStream") > before["ClientStream"]
                and _count("Bidi", "FAILED_PRECONDITION") > before["Bidi error"]
            ):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(all_counted(), timeout=10)
        assert _count("Unary") == before["Unary"] + 1
        assert _count("ServerStream") == before["ServerStream"] + 1
        assert _count("ClientStream") == before["ClientStream"] + 1
        assert _count("Bidi", "FAILED_PRECONDITION") == before["Bidi error"] + 1
        assert _count("Bidi") == before["Bidi"]  # not OK: it ended with the server's code
    finally:
        await pool.close()
        await server.stop(None)
