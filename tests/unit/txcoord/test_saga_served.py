"""`txc saga register` checks a saga's actions against the registry (issue 23): what it reports."""

from __future__ import annotations

from sdk.registry.model import ACTIONS_KEY, Endpoint
from sdk.saga import parse_saga
from txcoord.saga.served import unserved

SAGA = parse_saga(
    """
name: order
version: 1
steps:
  - id: reserve
    action: inventory.reserve
    compensate: inventory.release
  - id: pay
    action: paymnt.pay
    compensate: paymnt.refund
    after: [reserve]
""",
    "order.yaml",
)


def _endpoint(service: str, actions: str | None) -> Endpoint:
    return Endpoint(service, "127.0.0.1:1", metadata={} if actions is None else {ACTIONS_KEY: actions})


def test_a_service_nobody_serves_is_named_with_the_step_and_a_close_name() -> None:
    endpoints = [_endpoint("inventory", "reserve,release"), _endpoint("payment", "pay,refund")]
    assert unserved(SAGA, endpoints) == [
        "step 'pay' action: no live endpoint serves service 'paymnt'; did you mean 'payment'?",
        "step 'pay' compensate: no live endpoint serves service 'paymnt'; did you mean 'payment'?",
    ]


def test_an_action_the_service_does_not_publish_is_named() -> None:
    endpoints = [_endpoint("inventory", "reserve,releese"), _endpoint("paymnt", "pay,refund")]
    assert unserved(SAGA, endpoints) == [
        "step 'reserve' compensate: service 'inventory' has no action 'release'; did you mean 'releese'?"
    ]


def test_an_endpoint_that_does_not_publish_its_actions_is_checked_by_service_only() -> None:
    endpoints = [_endpoint("inventory", "reserve"), _endpoint("inventory", None), _endpoint("paymnt", None)]
    assert unserved(SAGA, endpoints) == []
