"""A saga whose steps mix gRPC and HTTP participants: the coordinator drives actions and compensations over
both protocols, with the same barrier and signatures."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.integration.coordinator.cluster import Cluster
from tests.integration.coordinator.sagas import LINEAR, TRIP, bookings, calls, trip
from tests.integration.http.conftest import http_endpoint
from tests.support import free_port, start_process

NewDb = Callable[..., Awaitable[str]]


async def test_a_saga_over_grpc_and_http_participants_compensates_both(
    cluster: Cluster, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", "branch-key-for-tests-0123456789")
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    db = await new_db()
    # flights and payments over gRPC; hotels over HTTP (the step between them)
    trip(cluster, db, "--card-limit", "100", services=("trip-flights", "trip-payments"))
    args = [sys.executable, str(TRIP), "--http", "--service", "trip-hotels", "--db", db]
    args += ["--registry", cluster.registry, "--listen", "127.0.0.1:0"]
    cluster.processes.append(start_process(args, cluster.log_dir, "http-trip-hotels"))
    await http_endpoint(cluster.registry, "trip-hotels")
    async with cluster.client() as client:
        await client.register_saga(LINEAR, "linear.yaml")
        done = await client.start_saga("linear", {"user": "ann", "amount": 50}, wait=True)
        assert done.state == "SUCCEEDED", done
        assert await bookings(db, done.gid) == {"flight": "BOOKED", "hotel": "BOOKED", "payment": "BOOKED"}
    # started by name over the REST API: the payment is declined, the HTTP hotel and the gRPC flight are
    # compensated in reverse order; a repeated start with the same idempotency key is the same instance
    async with httpx.AsyncClient(base_url=f"http://{rest}", timeout=60) as http:
        start = {"input": {"user": "bob", "amount": 500}, "idempotency_key": "bob-1", "wait": True}
        declined = (await http.post("/v1/sagas/linear/instances", json=start)).json()
        again = (await http.post("/v1/sagas/linear/instances", json=start)).json()
        shown = (await http.get(f"/v1/saga-instances/{declined['gid']}")).json()
    assert declined["state"] == "COMPENSATED", declined
    assert again["gid"] == declined["gid"] and shown["state"] == "COMPENSATED"
    assert [step["step_id"] for step in shown["steps"]] == ["flight", "hotel", "payment"]
    log = await calls(db, declined["gid"])
    compensations = [(c["step_id"], c["outcome"]) for c in log if c["op"] == "compensation"]
    assert compensations == [("payment", "empty_cancel"), ("hotel", "applied"), ("flight", "applied")]
    assert await bookings(db, declined["gid"]) == {"flight": "CANCELLED", "hotel": "CANCELLED"}
