"""Every bad input named in issue #7, sent raw to a real coordinator (with its hosted registry): each gets
INVALID_ARGUMENT naming the field, the error quotes at most a short prefix, and nothing is stored."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc, registry_pb2, registry_pb2_grpc, saga_pb2, saga_pb2_grpc
from tests.integration.coordinator.cluster import Cluster, query
from txcoord.validation import MAX_PAYLOAD_BYTES

GOOD = {"gid": "g-ok", "branch_id": "1", "service": "bank", "action": "debit", "payload_json": b'{"amount": 1}'}


def register(**override: Any) -> pb.RegisterBranchRequest:
    return pb.RegisterBranchRequest(**{**GOOD, **override})


COORDINATOR_CASES = [
    ("null payload", "RegisterBranch", register(payload_json=b"null"), "payload_json"),
    ("array payload", "RegisterBranch", register(payload_json=b"[1, 2]"), "payload_json"),
    ("phase action as a try", "RegisterBranch", register(action="debit.confirm"), "action"),
    ("10k-character branch id", "RegisterBranch", register(branch_id="b" * 10_000), "branch_id"),
    ("100 KB service name", "RegisterBranch", register(service="s" * 100_000), "service"),
    ("NUL in gid", "RegisterBranch", register(gid="g\x00x"), "gid"),
    ("invalid UTF-8 payload", "RegisterBranch", register(payload_json=b'{"a": "\xff\xfe"}'), "payload_json"),
    ("escaped NUL in payload", "RegisterBranch", register(payload_json=b'{"a": "x\\u0000"}'), "payload_json"),
    ("lone surrogate in payload", "RegisterBranch", register(payload_json=b'{"a": "\\ud800"}'), "payload_json"),
    ("JSON nested 100k deep", "RegisterBranch", register(payload_json=b'{"a": ' + b"[" * 100_000), "payload_json"),
    ("NaN in payload", "RegisterBranch", register(payload_json=b'{"a": NaN}'), "payload_json"),
    ("timeout 1e308", "RegisterBranch", register(timeout_seconds=1e308), "timeout_seconds"),
    ("100k-character gid", "Begin", pb.BeginRequest(gid="g" * 100_000), "gid"),
    ("unicode gid", "Begin", pb.BeginRequest(gid="tx-é"), "gid"),
    ("space in gid", "Begin", pb.BeginRequest(gid="tx 1"), "gid"),
    ("NUL in gid on commit", "Commit", pb.CommitRequest(gid="\x00"), "gid"),
    ("10k untried branch id", "Rollback", pb.RollbackRequest(gid="g", untried_branch_ids=["u" * 10_000]), "untried"),
]

REGISTRY_CASES = [
    ("ttl 1e308", registry_pb2.RegisterRequest(service="bank", address="127.0.0.1:1", ttl_seconds=1e308), "ttl"),
    ("ttl NaN", registry_pb2.RegisterRequest(service="bank", address="127.0.0.1:1", ttl_seconds=float("nan")), "ttl"),
    (
        "100 KB service name",
        registry_pb2.RegisterRequest(service="s" * 100_000, address="127.0.0.1:1", ttl_seconds=5),
        "service",
    ),
    (
        "100 KB metadata",
        registry_pb2.RegisterRequest(
            service="bank", address="127.0.0.1:1", ttl_seconds=5, metadata={"k": "v" * 100_000}
        ),
        "metadata",
    ),
    (
        "100 KB address",
        registry_pb2.RegisterRequest(service="bank", address="a" * 100_000 + ":1", ttl_seconds=5),
        "address",
    ),
]


def start(**override: Any) -> saga_pb2.StartSagaRequest:
    return saga_pb2.StartSagaRequest(**{"name": "trip", "input_json": b"{}", **override})


SAGA_CASES = [  # the same edge checks on a saga start (the saga need not exist: nothing is looked up first)
    ("invalid UTF-8 input", start(input_json=b'{"a": "\xff\xfe"}'), "input_json"),
    ("escaped NUL in input", start(input_json=b'{"a": "x\\u0000"}'), "input_json"),
    ("lone surrogate in input", start(input_json=b'{"a": "\\ud800"}'), "input_json"),
    ("input nested 100k deep", start(input_json=b"[" * 100_000), "input_json"),
    ("unicode gid", start(gid="saga-é"), "gid"),
    ("100k-character gid", start(gid="g" * 100_000), "gid"),
    ("100 KB saga name", start(name="n" * 100_000), "name"),
    ("NUL in idempotency key", start(idempotency_key="k\x00"), "idempotency_key"),
]


def resolve(output_json: bytes) -> saga_pb2.ResolveSagaRequest:
    return saga_pb2.ResolveSagaRequest(gid="saga-1", step_id="hotel", by="ops", output_json=output_json)


RESOLVE_CASES = [  # a forward step completed by hand: its output is checked before the saga is looked up
    ("output not JSON", resolve(b"{oops"), "output_json"),
    ("invalid UTF-8 output", resolve(b'{"a": "\xff\xfe"}'), "output_json"),
    ("escaped NUL in output", resolve(b'{"a": "x\\u0000"}'), "output_json"),
    ("output nested 100k deep", resolve(b"[" * 100_000), "output_json"),
    ("output over the payload bound", resolve(b'"' + b"a" * (MAX_PAYLOAD_BYTES + 1) + b'"'), "output_json"),
]


@pytest.fixture
async def channel(cluster: Cluster) -> Any:
    _, address = cluster.coordinator()
    async with grpc.aio.insecure_channel(address) as ch:
        yield ch


async def _refused(call: Any, request: Any, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request, timeout=30)
    err = info.value
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    details = err.details() or ""
    assert details.startswith(field), details
    assert len(details) < 300, f"error echoes the input: {len(details)} characters"


async def test_bad_coordinator_requests_are_invalid_argument_naming_the_field(cluster: Cluster, channel: Any) -> None:
    stub = coordinator_pb2_grpc.CoordinatorStub(channel)
    for _name, method, request, field in COORDINATOR_CASES:
        await _refused(getattr(stub, method), request, field)
    assert await query(cluster.store, "SELECT gid FROM txc_transaction") == []
    # the good request next to them is accepted, so the cases above fail for their one bad field
    await stub.RegisterBranch(register(), timeout=30)
    assert [r["gid"] for r in await query(cluster.store, "SELECT gid FROM txc_transaction")] == ["g-ok"]


async def test_bad_registrations_are_invalid_argument_naming_the_field(cluster: Cluster, channel: Any) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    for _name, request, field in REGISTRY_CASES:
        await _refused(stub.Register, request, field)
    assert await query(cluster.store, "SELECT lease_id FROM txc_registry_lease") == []


async def test_bad_saga_starts_are_invalid_argument_naming_the_field(cluster: Cluster, channel: Any) -> None:
    stub = saga_pb2_grpc.SagasStub(channel)
    for _name, request, field in SAGA_CASES:
        await _refused(stub.StartSaga, request, field)
    assert await query(cluster.store, "SELECT gid FROM txc_saga") == []


async def test_bad_saga_resolve_outputs_are_invalid_argument_naming_the_field(cluster: Cluster, channel: Any) -> None:
    stub = saga_pb2_grpc.SagasStub(channel)
    for _name, request, field in RESOLVE_CASES:
        await _refused(stub.ResolveSaga, request, field)
    # the same request with a good output gets as far as looking the saga up
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ResolveSaga(resolve(b'{"booking_id": "H-1"}'), timeout=30)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND, info.value.details()
