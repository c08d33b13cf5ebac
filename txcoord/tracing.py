"""The coordinator's spans for what arrives on the session stream (one span per op, child of the caller's span
named in the request's ``traceparent``); unary calls get theirs from sdk's gRPC tracing interceptor. Phase 2
runs in tasks started inside the commit's span, so its deliveries are children of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sdk._proto import coordinator_pb2 as pb
from sdk.observability.json_logs import json_logs
from sdk.observability.tracing import start_span, tracing_enabled
from sdk.rpc.context import txn_context

T = TypeVar("T")
SERVICE = "txcoord.coordinator.v1.Coordinator"
METHODS = {
    "begin": "Begin",
    "register": "RegisterBranch",
    "commit": "Commit",
    "rollback": "Rollback",
    "finish": "Finish",
}


async def session_op(req: pb.SessionRequest, op: Callable[[], Awaitable[T]]) -> T:
    """Run ``op`` (one session request) in its span when tracing is on; else just run it."""
    if not tracing_enabled():
        if not json_logs():
            return await op()
        with txn_context(getattr(req, req.WhichOneof("op") or "").gid or None):  # JSON log lines carry the gid
            return await op()
    kind = req.WhichOneof("op") or ""
    body = getattr(req, kind)
    method = METHODS.get(kind, kind)
    attributes = {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": method, "txc.gid": body.gid}
    if kind == "register":
        attributes["txc.branch_id"] = body.branch_id
        attributes["txc.service"] = body.service
    with (
        txn_context(body.gid or None),
        start_span(f"{SERVICE}/{method}", kind="server", attributes=attributes, traceparent=req.traceparent or None),
    ):
        return await op()


async def saga_step(op: str, gid: str, step_id: str, service: str, work: Awaitable[T]) -> T:
    """A saga step's action or compensation (``op``) in its own span when tracing is on: the gRPC call to the
    participant becomes its child."""
    if not tracing_enabled():
        return await work
    attributes = {"txc.gid": gid, "txc.step_id": step_id, "txc.service": service, "txc.op": op}
    with txn_context(gid), start_span(f"txc.saga.{op}", attributes=attributes):
        return await work
