"""Every method of every gRPC service a txcoord server serves has a rule in the authorization table, and every
method that changes state is refused, through a real TLS coordinator with credentials on, to a caller with no
credential and to one whose identity lacks the role — before any of its work runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from sdk._proto import coordinator_pb2, registry_pb2, saga_pb2
from sdk.rpc.authorization import RULES, Rule
from tests.integration.coordinator.cluster import Cluster, query
from tests.integration.coordinator.trust import SecureDeployment
from tests.support.certs import make_pki

NewDb = Callable[..., Awaitable[str]]

SERVICES: list[ServiceDescriptor] = [
    coordinator_pb2.DESCRIPTOR.services_by_name["Coordinator"],
    saga_pb2.DESCRIPTOR.services_by_name["Sagas"],
    registry_pb2.DESCRIPTOR.services_by_name["Registry"],
    health_pb2.DESCRIPTOR.services_by_name["Health"],
    reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
]
# An identity that is authenticated but lacks the role each rule needs.
WRONG_IDENTITY = {Rule.CALLER: "bank-a", Rule.PARTICIPANT: "shop", Rule.PROXY: "shop", Rule.ADMIN: "shop"}


def _methods() -> list[tuple[str, bool, bool]]:
    return [
        (f"/{service.full_name}/{m.name}", m.client_streaming, m.server_streaming)
        for service in SERVICES
        for m in service.methods
    ]


def test_every_method_of_every_service_has_a_rule() -> None:
    missing = [path for path, _cs, _ss in _methods() if path not in RULES]
    assert missing == [], f"methods without an authorization rule (add them to sdk.rpc.authorization): {missing}"
    assert set(RULES) == {path for path, _cs, _ss in _methods()}, "rules for methods no service has"


async def _call(channel: grpc.aio.Channel, path: str, client_stream: bool, server_stream: bool, token: str | None):  # type: ignore[no-untyped-def]
    """Call ``path`` with one empty request message: the status code it ends with (OK for success)."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    kwargs = {"request_serializer": lambda _m: b"", "response_deserializer": lambda b: b}

    async def one() -> AsyncIterator[bytes]:
        yield b""

    try:
        if not client_stream and not server_stream:
            await channel.unary_unary(path, **kwargs)(b"", metadata=metadata, timeout=10)
        elif not client_stream:
            async for _ in channel.unary_stream(path, **kwargs)(b"", metadata=metadata, timeout=10):
                break
        elif not server_stream:
            await channel.stream_unary(path, **kwargs)(one(), metadata=metadata, timeout=10)
        else:
            async for _ in channel.stream_stream(path, **kwargs)(one(), metadata=metadata, timeout=10):
                break
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_every_state_changing_method_refuses_no_credential_and_the_wrong_identity(
    cluster: Cluster, tmp_path: Path
) -> None:
    secure = SecureDeployment(cluster, make_pki(tmp_path / "pki"), tmp_path)
    secure.coordinator()
    before = await query(cluster.store, "SELECT count(*) AS n FROM txc_transaction")
    async with grpc.aio.secure_channel(secure.address, secure.tls_credentials()) as channel:
        for path, client_stream, server_stream in _methods():
            rule = RULES[path]
            if rule is Rule.OPEN:
                continue
            anonymous = await _call(channel, path, client_stream, server_stream, None)
            assert anonymous == grpc.StatusCode.UNAUTHENTICATED, (path, anonymous)
            wrong = await _call(channel, path, client_stream, server_stream, secure.tokens[WRONG_IDENTITY[rule]])
            assert wrong == grpc.StatusCode.PERMISSION_DENIED, (path, wrong)
            forged = await _call(channel, path, client_stream, server_stream, "not-a-token-of-anyone-here")
            assert forged == grpc.StatusCode.PERMISSION_DENIED, (path, forged)
    # Nothing reached the store.
    assert await query(cluster.store, "SELECT count(*) AS n FROM txc_transaction") == before
    rows = await query(cluster.store, "SELECT count(*) AS n FROM txc_registry_lease")
    assert rows[0]["n"] == 0
