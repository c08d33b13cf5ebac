"""Every method of every gRPC service a txcoord server serves has a rule in the authorization table, and every
method that changes state is refused, through a real TLS coordinator and a real TLS registry server with
credentials on, to a caller with no credential and to one whose identity lacks the role — before any of its
work runs. The methods are read from each running server's reflection service, so a service a server gains
without rules fails here even if nobody adds it to the list below."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from sdk._proto import coordinator_pb2, registry_pb2, registry_pb2_grpc, saga_pb2
from sdk.rpc.authorization import RULES, Rule
from tests.integration.coordinator.cluster import TXC, Cluster, query
from tests.integration.coordinator.trust import SecureDeployment
from tests.support import free_port, start_process
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


Method = tuple[str, bool, bool]  # path, client streaming, server streaming


def _methods(services: list[ServiceDescriptor] = SERVICES) -> list[Method]:
    return [
        (f"/{service.full_name}/{m.name}", m.client_streaming, m.server_streaming)
        for service in services
        for m in service.methods
    ]


def _served(address: str, credentials: grpc.ChannelCredentials) -> list[Method]:
    """Every method of every service the server at ``address`` serves, as its reflection service describes it."""
    with grpc.secure_channel(address, credentials) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = DescriptorPool(database)
        return _methods([pool.FindServiceByName(name) for name in database.get_services()])


def test_every_method_of_every_service_has_a_rule() -> None:
    missing = [path for path, _cs, _ss in _methods() if path not in RULES]
    assert missing == [], f"methods without an authorization rule (add them to sdk.rpc.authorization): {missing}"
    assert set(RULES) == {path for path, _cs, _ss in _methods()}, "rules for methods no service has"


async def _call(
    channel: grpc.aio.Channel, path: str, client_stream: bool, server_stream: bool, token: str | None
) -> grpc.StatusCode:
    """Call ``path`` (a unary request: one empty message; a request stream: none) and return the status code it
    ends with (OK for success). A refusal comes before any request message is read; a client that writes into a
    stream the server already closed gets a client-side INTERNAL instead of the server's status, so the stream is
    left open and its status read (a method that wrongly accepts the call ends DEADLINE_EXCEEDED)."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    kwargs = {"request_serializer": lambda _m: b"", "response_deserializer": lambda b: b}
    if client_stream:
        make = channel.stream_stream if server_stream else channel.stream_unary
        call = make(path, **kwargs)(metadata=metadata, timeout=10)
        return await call.code()
    try:
        if not server_stream:
            await channel.unary_unary(path, **kwargs)(b"", metadata=metadata, timeout=10)
        else:
            async for _ in channel.unary_stream(path, **kwargs)(b"", metadata=metadata, timeout=10):
                break
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def _refuses_every_state_changing_method(secure: SecureDeployment, address: str) -> list[Method]:
    """Walk the services the server at ``address`` serves: each method has a rule, and each one that is not
    open refuses no credential, a wrong identity's and a forged one. Returns the methods walked."""
    served = await asyncio.to_thread(_served, address, secure.tls_credentials())
    missing = [path for path, _cs, _ss in served if path not in RULES]
    assert missing == [], f"{address} serves methods without an authorization rule: {missing}"
    async with grpc.aio.secure_channel(address, secure.tls_credentials()) as channel:
        for path, client_stream, server_stream in served:
            rule = RULES[path]
            if rule is Rule.OPEN or rule is Rule.READ:  # READ: open on these loopback listeners (see
                continue  # test_read_authorization.py for a listener beyond loopback)
            anonymous = await _call(channel, path, client_stream, server_stream, None)
            assert anonymous == grpc.StatusCode.UNAUTHENTICATED, (path, anonymous)
            wrong = await _call(channel, path, client_stream, server_stream, secure.tokens[WRONG_IDENTITY[rule]])
            assert wrong == grpc.StatusCode.PERMISSION_DENIED, (path, wrong)
            forged = await _call(channel, path, client_stream, server_stream, "not-a-token-of-anyone-here")
            assert forged == grpc.StatusCode.PERMISSION_DENIED, (path, forged)
    return served


async def test_every_state_changing_method_refuses_no_credential_and_the_wrong_identity(
    cluster: Cluster, tmp_path: Path
) -> None:
    secure = SecureDeployment(cluster, make_pki(tmp_path / "pki"), tmp_path)
    secure.coordinator()
    registry = f"127.0.0.1:{free_port()}"  # a registry server of its own (`txc registry`), secured the same way
    args = [TXC, "registry", "--listen", registry, "--credentials", str(secure.credentials)]
    args += ["--tls-cert", secure.pki.server_cert, "--tls-key", secure.pki.server_key, "--tls-ca", secure.pki.ca]
    proc = start_process(args, cluster.log_dir, "registry-secure")
    cluster.processes.append(proc)
    proc.wait_serving(registry, credentials=secure.tls_credentials())
    before = await query(cluster.store, "SELECT count(*) AS n FROM txc_transaction")
    walked = await _refuses_every_state_changing_method(secure, secure.address)
    assert {path for path, _cs, _ss in walked} >= set(RULES), "the coordinator serves fewer services than expected"
    walked = await _refuses_every_state_changing_method(secure, registry)
    assert {path.split("/")[1] for path, _cs, _ss in walked} >= {
        "txcoord.registry.v1.Registry",
        "grpc.health.v1.Health",
    }
    # Nothing reached the store, and the registry server holds no lease.
    assert await query(cluster.store, "SELECT count(*) AS n FROM txc_transaction") == before
    rows = await query(cluster.store, "SELECT count(*) AS n FROM txc_registry_lease")
    assert rows[0]["n"] == 0
    async with grpc.aio.secure_channel(registry, secure.tls_credentials()) as channel:
        listed = await registry_pb2_grpc.RegistryStub(channel).List(registry_pb2.ListRequest(), timeout=10)
    assert list(listed.endpoints) == [], listed
