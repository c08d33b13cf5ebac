"""An undecodable request body is INVALID_ARGUMENT naming the expected type, and logs nothing: no traceback per
bad request in a server log (issue #7). Raw bytes to a real coordinator (unary, server-streaming and bidi
methods, and its registry) and to a real participant's JSON actions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from sdk.rpc import method_path
from tests.integration.coordinator.cluster import Cluster

NewDb = Callable[..., Awaitable[str]]
GARBAGE = b"\xff\xff\xff\xff\x0f not a message"

UNARY = [
    ("/txcoord.coordinator.v1.Coordinator/Begin", "txcoord.coordinator.v1.BeginRequest"),
    ("/txcoord.coordinator.v1.Coordinator/Query", "txcoord.coordinator.v1.QueryRequest"),
    ("/txcoord.registry.v1.Registry/Register", "txcoord.registry.v1.RegisterRequest"),
]


async def _garbage_stream() -> AsyncIterator[bytes]:
    yield GARBAGE


async def test_undecodable_requests_are_invalid_argument_and_log_nothing(cluster: Cluster, new_db: NewDb) -> None:
    coordinator, address = cluster.coordinator()
    bank = cluster.bank("bank-a", await new_db(), "alice=10")
    async with grpc.aio.insecure_channel(address) as channel:
        for _ in range(5):  # each one would have logged a traceback
            for method, expected in UNARY:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await channel.unary_unary(method)(GARBAGE, timeout=10)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, caught.value.details())
                assert expected in (caught.value.details() or ""), caught.value.details()
            watch = channel.unary_stream("/txcoord.registry.v1.Registry/Watch")(GARBAGE, timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _reply in watch:
                    pass
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            session = channel.stream_stream("/txcoord.coordinator.v1.Coordinator/Session")(
                _garbage_stream(), timeout=10
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _reply in session:
                    pass
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    async with grpc.aio.insecure_channel(bank.listen) as channel:  # type: ignore[attr-defined]
        for body in (b"{not json", b"\xff\xfe"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(method_path("bank-a", "debit"))(body, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
            assert "JSON" in (caught.value.details() or "")
    for proc in (coordinator, bank):
        log = proc.output()
        assert "Traceback" not in log, log[-3000:]
        assert "DecodeError" not in log and "JSONDecodeError" not in log, log[-3000:]
