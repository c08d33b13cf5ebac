"""Sagas run by real coordinator and participant processes on real PostgreSQL (issue 9's Must show)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.coordinator.cluster import TXC, Cluster, query, tx_state
from tests.integration.coordinator.sagas import LINEAR, REPO, bookings, calls, trip
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
BOOK_TRIP = (REPO / "examples" / "sagas" / "book_trip.yaml").read_text()


async def _register(cluster: Cluster, source: str) -> None:
    async with cluster.client() as client:
        await client.register_saga(source, "test.yaml")


async def _deployed(cluster: Cluster, new_db: NewDb, source: str, *trip_options: str) -> tuple[str, str]:
    """A coordinator, the trip participants (started with ``trip_options``) on a fresh database, and the saga
    ``source`` registered. Returns (coordinator address, the participants' database)."""
    _, address = cluster.coordinator()
    db = await new_db()
    trip(cluster, db, *trip_options)
    await _register(cluster, source)
    return address, db


def _actions(log: list[dict[str, object]], op: str) -> list[tuple[object, object]]:
    return [(c["step_id"], c["outcome"]) for c in log if c["op"] == op]


async def test_linear_three_step_saga_succeeds_and_outputs_flow_into_later_inputs(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, db = await _deployed(cluster, new_db, LINEAR)
    async with cluster.client() as client:
        result = await client.start_saga("linear", {"user": "ann", "amount": 50}, wait=True, idempotency_key="k1")
        assert result.state == "SUCCEEDED", result
        flight = result.outputs["flight"]["booking_id"]
        hotel = result.outputs["hotel"]["booking_id"]
        assert result.outputs["payment"] == {"booking_id": f"charge-{result.gid[-6:]}", "amount": 50}
        detail = result.detail
        assert detail is not None
        inputs = {s.step_id: json.loads(s.input_json) for s in detail.steps}
        assert inputs["hotel"]["flight"] == flight
        assert inputs["payment"]["items"] == [flight, hotel]
        again = await client.start_saga("linear", {"user": "ann", "amount": 50}, idempotency_key="k1")
        assert (again.gid, again.created) == (result.gid, False)
    log = await calls(db, result.gid)
    assert _actions(log, "action") == [("flight", "applied"), ("hotel", "applied"), ("payment", "applied")]
    assert await bookings(db, result.gid) == {"flight": "BOOKED", "hotel": "BOOKED", "payment": "BOOKED"}


async def test_failure_at_step_3_compensates_step_2_then_step_1(cluster: Cluster, new_db: NewDb) -> None:
    _, db = await _deployed(cluster, new_db, LINEAR, "--card-limit", "100")
    async with cluster.client() as client:
        result = await client.start_saga("linear", {"user": "bob", "amount": 500}, wait=True)
    assert result.state == "COMPENSATED", result
    assert "declined" in result.error
    log = await calls(db, result.gid)
    # payment refused by the business (not retried), its empty compensation, then hotel, then flight
    assert _actions(log, "action") == [("flight", "applied"), ("hotel", "applied"), ("payment", "error: RpcError")]
    assert _actions(log, "compensation") == [
        ("payment", "empty_cancel"),
        ("hotel", "applied"),
        ("flight", "applied"),
    ]
    assert await bookings(db, result.gid) == {"flight": "CANCELLED", "hotel": "CANCELLED"}


async def test_parallel_steps_really_overlap_and_compensation_follows_reverse_completion_order(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, db = await _deployed(cluster, new_db, BOOK_TRIP, "--delay", "1.0", "--card-limit", "100")
    async with cluster.client() as client:
        result = await client.start_saga(
            "book_trip", {"user": "cy", "city": "Oslo", "nights": 2, "amount": 900}, wait=True
        )
    assert result.state == "COMPENSATED", result
    log = await calls(db, result.gid)
    windows = {c["step_id"]: (c["started"], c["ended"]) for c in log if c["op"] == "action"}
    (h0, h1), (c0, c1) = windows["hotel"], windows["car"]
    assert h0 < c1 and c0 < h1, f"hotel {windows['hotel']} and car {windows['car']} did not overlap"
    assert result.detail is not None
    completed = sorted((s.completion_order, s.step_id) for s in result.detail.steps if s.completion_order)
    undone = [c["step_id"] for c in log if c["op"] == "compensation" and c["outcome"] == "applied"]
    assert undone == [step for _, step in reversed(completed)]
    assert set(undone) == {"flight", "hotel", "car"}


async def test_coordinator_sigkilled_mid_saga_restarts_and_finishes_without_rerunning_completed_steps(
    cluster: Cluster, new_db: NewDb
) -> None:
    coordinator, address = cluster.coordinator()
    db = await new_db()
    trip(cluster, db, "--delay", "1.5")
    await _register(cluster, LINEAR)
    async with cluster.client() as client:
        started = await client.start_saga("linear", {"user": "dee", "amount": 5})
    gid = started.gid

    async def hotel_running() -> bool:
        return any(c["step_id"] == "flight" for c in await calls(db, gid))

    await eventually(hotel_running, what="flight done")
    coordinator.kill()
    cluster.coordinator(port=int(address.rsplit(":", 1)[1]))
    await eventually(lambda: _state_is(cluster.store, gid, "SUCCEEDED"), timeout=60, what="SUCCEEDED")
    applied = [c["step_id"] for c in await calls(db, gid) if c["op"] == "action" and c["outcome"] == "applied"]
    assert sorted(applied) == ["flight", "hotel", "payment"]  # each exactly once, even the one in flight


async def test_caller_sigkilled_right_after_the_start_the_saga_still_finishes(cluster: Cluster, new_db: NewDb) -> None:
    address, _ = await _deployed(cluster, new_db, LINEAR, "--delay", "0.5")
    caller = subprocess.Popen(
        [TXC, "saga", "run", "linear", "--input", '{"user": "eve", "amount": 7}', "--wait", "-c", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        async def started() -> str | None:
            rows = await _query(cluster.store, "SELECT gid FROM txc_saga WHERE name = 'linear'")
            return rows[0]["gid"] if rows else None

        gid = await eventually(started, what="saga started")
    finally:
        caller.kill()
        caller.wait()
    assert caller.returncode == -9
    await eventually(lambda: _state_is(cluster.store, gid, "SUCCEEDED"), timeout=60, what="SUCCEEDED")


async def test_participant_down_retries_with_backoff_show_reports_attempts_then_the_saga_proceeds(
    cluster: Cluster, new_db: NewDb, tmp_path: Path
) -> None:
    _, address = cluster.coordinator()
    db = await new_db()
    trip(cluster, db, services=("trip-flights", "trip-hotels"))
    source = LINEAR.replace(
        "retry: {attempts: 2, backoff: 100ms}", "retry: {attempts: 50, backoff: 200ms, max_backoff: 1s}"
    )
    await _register(cluster, source)
    async with cluster.client() as client:
        gid = (await client.start_saga("linear", {"user": "fay", "amount": 9})).gid

    def show() -> dict[str, object]:
        done = subprocess.run([TXC, "saga", "show", gid, "--json", "-c", address], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    async def payment_retried() -> dict[str, object] | None:
        payment = next(s for s in show()["steps"] if s["step_id"] == "payment")  # type: ignore[attr-defined]
        return payment if payment["attempts"] >= 2 and payment["last_error"] else None

    payment = await eventually(payment_retried, timeout=60, what="payment retried")
    assert "trip-payments" in str(payment["last_error"])
    assert payment["state"] == "RUNNING"
    trip(cluster, db, services=("trip-payments",))
    await eventually(lambda: _state_is(cluster.store, gid, "SUCCEEDED"), timeout=60, what="SUCCEEDED")
    text = subprocess.run([TXC, "saga", "show", gid, "-c", address], capture_output=True, text=True)
    assert text.returncode == 0 and "flowchart TD" in text.stdout and "SUCCEEDED" in text.stdout
    listing = subprocess.run([TXC, "tx", "list", "--json", "-c", address], capture_output=True, text=True)
    modes = {t["gid"]: t["mode"] for t in json.loads(listing.stdout)["transactions"]}
    assert modes[gid] == "SAGA"


FORWARD = """
name: forward
version: 1
timeout: 60s
steps:
  - id: charge
    action: trip-payments.charge
    compensate: trip-payments.refund
    retry: {attempts: 5, backoff: 100ms}   # the participant's 3 transient failures must not exhaust it
    input: {user: gus, amount: 3}
  - id: ship
    action: trip-flights.book
    recovery: forward
    retry: {backoff: 100ms, max_backoff: 500ms}
    input: {user: gus}
"""

SLOW = """
name: slow
version: 1
timeout: 2s
steps:
  - id: flight
    action: trip-flights.book
    compensate: trip-flights.cancel
    input: {user: hal}
  - id: hotel
    action: trip-hotels.book
    compensate: trip-hotels.cancel
    timeout: 30s
    input: {user: hal}
"""


async def test_forward_recovery_retries_past_failures_until_success(cluster: Cluster, new_db: NewDb) -> None:
    _, db = await _deployed(cluster, new_db, FORWARD, "--fail-first", "3")
    async with cluster.client() as client:
        result = await client.start_saga("forward", wait=True)
    assert result.state == "SUCCEEDED", result
    steps = {s.step_id: s for s in result.steps}
    assert steps["ship"].attempts == 4 and steps["charge"].attempts == 4
    assert [c["outcome"] for c in await calls(db, result.gid) if c["step_id"] == "ship"] == [
        "error: RpcError",
        "error: RpcError",
        "error: RpcError",
        "applied",
    ]


async def test_a_saga_past_its_timeout_is_compensated(cluster: Cluster, new_db: NewDb) -> None:
    _, db = await _deployed(cluster, new_db, SLOW, "--delay", "4")
    async with cluster.client() as client:
        result = await client.start_saga("slow", wait=True)
    assert result.state == "COMPENSATED", result
    assert result.error.startswith("timeout")
    # the flight was in flight at the timeout: compensated whether or not its action got to commit
    assert [c["step_id"] for c in await calls(db, result.gid) if c["op"] == "compensation"] == ["flight"]
    assert "BOOKED" not in (await bookings(db, result.gid)).values()


DISORDER = """
name: disorder
version: 1
steps:
  - id: flight
    action: trip-flights.book
    compensate: trip-flights.cancel
    timeout: 1s
    retry: {attempts: 1}
    input: {user: ivy}
"""


async def test_disorder_an_action_delayed_past_its_compensation_is_refused_with_no_effect(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, db = await _deployed(cluster, new_db, DISORDER, "--hold-action", "4")
    async with cluster.client() as client:
        result = await client.start_saga("disorder", wait=True)
    assert result.state == "COMPENSATED", result

    async def action_arrived() -> list[dict[str, object]] | None:
        log = await calls(db, result.gid)
        return log if any(c["op"] == "action" for c in log) else None

    log = await eventually(action_arrived, what="the held action reached the participant")
    assert [(c["op"], c["outcome"]) for c in log] == [("compensation", "empty_cancel"), ("action", "error: RpcError")]
    assert await bookings(db, result.gid) == {}


async def _query(db: str, sql: str) -> list[dict[str, object]]:
    return [dict(r) for r in await query(db, sql)]


async def _state_is(store: str, gid: str, state: str) -> bool:
    """True once ``gid`` is ``state``; fails at once if it ended in another terminal state."""
    now = await tx_state(store, gid)
    if now in ("SUCCEEDED", "COMPENSATED") and now != state:
        raise AssertionError(f"{gid} ended {now}, expected {state}")
    return now == state


pytestmark = pytest.mark.timeout(180)


async def test_another_coordinator_takes_over_a_saga_whose_owner_died(cluster: Cluster, new_db: NewDb) -> None:
    """Same ownership as TCC: owner + lease on the transaction row; a peer claims it once the lease lapses."""
    first, first_address = cluster.coordinator("--lease", "2")
    _, second = cluster.coordinator("--lease", "2")  # each hosts a registry on the shared store
    db = await new_db()
    trip(cluster, db, "--delay", "1.5", registry=f"{first_address},{second}")
    await _register(cluster, LINEAR)
    async with cluster.client() as client:  # the first coordinator (cluster.registry) owns it
        gid = (await client.start_saga("linear", {"user": "jo", "amount": 1})).gid

    async def flight_done() -> bool:
        return any(c["step_id"] == "flight" and c["op"] == "action" for c in await calls(db, gid))

    await eventually(flight_done, what="flight done")
    first.kill()
    await eventually(lambda: _state_is(cluster.store, gid, "SUCCEEDED"), timeout=60, what="SUCCEEDED")
    owner_events = await query(
        cluster.store, "SELECT detail FROM txc_event WHERE gid = $1 AND event = 'taken_over'", gid
    )
    assert owner_events, "the second coordinator did not record a takeover"
    applied = [c["step_id"] for c in await calls(db, gid) if c["op"] == "action" and c["outcome"] == "applied"]
    assert sorted(applied) == ["flight", "hotel", "payment"]


async def test_register_stores_immutable_versions_and_run_checks_the_input(cluster: Cluster, tmp_path: Path) -> None:
    _, address = cluster.coordinator()
    first, changed = tmp_path / "linear.yaml", tmp_path / "changed.yaml"
    first.write_text(LINEAR)
    changed.write_text(LINEAR.replace("timeout: 60s", "timeout: 90s"))

    def txc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TXC, "saga", *args, "-c", address], capture_output=True, text=True, timeout=60)

    assert "saga linear v1 registered" in txc("register", str(first)).stdout
    assert "already registered" in txc("register", str(first)).stdout  # same content: a no-op
    conflict = txc("register", str(changed))
    assert conflict.returncode == 2 and "different content" in conflict.stderr and "new version" in conflict.stderr
    bad_input = txc("run", "linear", "--input", '{"user": 1}')
    assert bad_input.returncode == 2
    assert "input.user: expected string" in bad_input.stderr and "input.amount: required" in bad_input.stderr
    unknown = txc("run", "nope")
    assert unknown.returncode == 2 and "txc saga register" in unknown.stderr
    assert "Traceback" not in conflict.stderr + bad_input.stderr + unknown.stderr
    async with cluster.client() as client:
        await client.begin("tcc-not-a-saga", 30)
    tcc = txc("show", "tcc-not-a-saga")
    assert tcc.returncode == 2 and "is a TCC transaction, not a saga" in tcc.stderr
    assert "txc tx show tcc-not-a-saga" in tcc.stderr and "Traceback" not in tcc.stderr
