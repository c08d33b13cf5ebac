"""The REST front's table: every route is a gRPC method with a rule in the one authorization table, a route that
changes state is never open, bodies map onto the request messages naming bad fields, and the OpenAPI document
checked into docs/ is the one the code builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdk._proto import coordinator_pb2, saga_pb2
from sdk.rpc.authorization import RULES, Rule
from txcoord.rest.messages import BadBody, parse, render
from txcoord.rest.openapi import openapi_document
from txcoord.rest.routes import ROUTES

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
    assert message.payload_json == b'{"amount":5}'
    assert render(message)["payload"] == {"amount": 5}
    started = parse(saga_pb2.StartSagaRequest, {"input": [1, "two"], "wait": True}, {"name": "trip"})
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
