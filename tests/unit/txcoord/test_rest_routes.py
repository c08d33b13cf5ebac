"""The REST front's table: every route is a gRPC method with a rule in the one authorization table, a route that
changes state is never open, bodies map onto the request messages naming bad fields, and the OpenAPI document
checked into docs/ is the one the code builds."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sdk._proto import coordinator_pb2, registry_pb2_grpc, saga_pb2
from sdk.rpc.authorization import RULES, Rule
from sdk.rpc.identities import Identities
from txcoord.errors import NotPermitted
from txcoord.rest.app import RestApi
from txcoord.rest.messages import BadBody, parse, render
from txcoord.rest.openapi import openapi_document
from txcoord.rest.routes import REGISTRY, ROUTES
from txcoord.store.outage import STORE_OUTAGE

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_every_route_is_a_grpc_method_with_a_rule_and_state_changes_are_never_open() -> None:
    for route in ROUTES:
        rule = RULES.get(route.grpc_path)
        assert rule is not None, f"{route.path}: {route.grpc_path} has no rule in sdk/rpc/authorization.py"
        if route.http_method != "GET":
            assert rule not in (Rule.OPEN, Rule.SIGNED), f"{route.path} changes state under rule {rule}"
        assert set(route.path_fields) <= {f.name for f in route.request.DESCRIPTOR.fields}, route.path


def test_the_checked_in_openapi_document_is_the_built_one() -> None:
    assert json.loads((DOCS / "openapi.json").read_text()) == openapi_document()


def test_json_values_travel_as_json_and_bad_fields_are_named() -> None:
    message = parse(
        coordinator_pb2.RegisterBranchRequest,
        {"branch_id": "1", "service": "bank", "action": "debit", "payload": {"amount": 5}},
        {"gid": "g1"},
    )
    assert isinstance(message, coordinator_pb2.RegisterBranchRequest)
    assert message.payload_json == b'{"amount":5}'
    assert render(message)["payload"] == {"amount": 5}
    started = parse(saga_pb2.StartSagaRequest, {"input": [1, "two"], "wait": True}, {"name": "trip"})
    assert isinstance(started, saga_pb2.StartSagaRequest)
    assert started.input_json == b'[1,"two"]' and started.wait
    for body, field in [
        ({"gid": "other"}, "gid"),  # the path says g1
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"payload_json": "e30="}, "payload_json"),  # the bytes field is not a name of the REST API
        ({"timeout_seconds": float("inf")}, "timeout_seconds"),
        ({"branch_id": 1}, "branch_id"),
    ]:
        with pytest.raises(BadBody, match=field):
            parse(coordinator_pb2.RegisterBranchRequest, body, {"gid": "g1"})


class _FailingRegistry(registry_pb2_grpc.RegistryServicer):
    """A registry servicer whose Register raises what a store call can raise (a fake in a unit test of the
    REST front's error mapping; the gRPC front's answers come from the outage interceptor and answers)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def Register(self, request: object, context: object) -> object:
        raise self.exc


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), 503, "UNAVAILABLE"),  # a store outage: retry
        (NotPermitted("lease_id: another's lease"), 403, "PERMISSION_DENIED"),  # a coordinator error: its status
        (RuntimeError("a bug"), 500, "INTERNAL"),
    ],
)
async def test_what_a_servicer_raises_is_a_json_error_with_the_grpc_fronts_code(
    raised: Exception, status: int, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("down", "_ok_since"):  # the process's one outage log: left as it was for other tests
        monkeypatch.setattr(STORE_OUTAGE, name, getattr(STORE_OUTAGE, name))
    api = RestApi({REGISTRY: _FailingRegistry(raised)}, RULES, Identities())
    endpoint = {"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5}
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rest") as http:
        reply = await http.post("/v1/registry/endpoints", json=endpoint)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == code
