"""No saga stuck by a name that does not exist (issue 23, Deliver 1), through real processes.

A step whose action was never delivered (a misspelled service) has nothing to compensate; a compensation
whose service died for good marks the saga for a person, who finishes it with `txc saga resolve` or
`txc saga retry`; either way the booking the first step holds is released."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.coordinator.cluster import TXC, Cluster, query, tx_state
from tests.integration.coordinator.sagas import bookings, trip
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]

TYPO = """
name: typo
version: 1
timeout: 60s
steps:
  - id: flight
    action: trip-flights.book
    compensate: trip-flights.cancel
    input: {user: ann, city: Lisbon}
  - id: payment
    action: trip-paymnts.charge
    compensate: trip-paymnts.refund
    after: [flight]
    retry: {attempts: 2, backoff: 100ms}
    timeout: 1s
    input: {user: ann, amount: 10}
"""

# flight and payment on one process (slow: 2 s per action), hotel on another that dies after booking
DIES = """
name: dies
version: 1
timeout: 120s
steps:
  - id: flight
    action: trip-flights.book
    compensate: trip-flights.cancel
    input: {user: bob, city: Porto}
  - id: hotel
    action: trip-hotels.book
    compensate: trip-hotels.cancel
    after: [flight]
    timeout: 1s
    input: {user: bob, nights: 2}
  - id: payment
    action: trip-payments.charge
    compensate: trip-payments.refund
    after: [hotel]
    input: {user: bob, amount: 500}
"""


def txc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60)


async def _events(cluster: Cluster, gid: str) -> list[tuple[str, str, str]]:
    async with cluster.client() as client:
        detail = (await client.saga(gid)).detail
    assert detail is not None
    return [(e.step_id, e.event, e.detail) for e in detail.events]


async def _start(cluster: Cluster, source: str, name: str, *, wait: bool) -> Any:
    async with cluster.client() as client:
        await client.register_saga(source, f"{name}.yaml")
        return await client.start_saga(name, {}, wait=wait)


async def test_a_misspelled_service_skips_its_compensation_and_the_saga_ends_compensated(
    cluster: Cluster, new_db: NewDb, tmp_path: Path
) -> None:
    _, coordinator = cluster.coordinator()
    db = await new_db()
    trip(cluster, db)
    (tmp_path / "typo.yaml").write_text(TYPO)
    strict = txc("saga", "register", str(tmp_path / "typo.yaml"), "--strict", "-c", coordinator)
    assert strict.returncode == 2, strict
    assert "step 'payment' action: no live endpoint serves service 'trip-paymnts'; did you mean 'trip-payments'?" in (
        strict.stderr
    )
    assert "nothing registered" in strict.stderr
    warned = txc("saga", "register", str(tmp_path / "typo.yaml"), "-c", coordinator)
    assert warned.returncode == 0 and "warning: step 'payment' compensate: no live endpoint" in warned.stderr, warned
    result = await _start(cluster, TYPO, "typo", wait=True)
    assert result.state == "COMPENSATED", result
    assert "no live endpoint registered for service 'trip-paymnts'" in result.error
    assert await bookings(db, result.gid) == {"flight": "CANCELLED"}  # the held booking is released
    events = await _events(cluster, result.gid)
    assert ("payment", "step_not_delivered") in [(s, e) for s, e, _ in events]
    skipped = [d for s, e, d in events if (s, e) == ("payment", "compensation_skipped")]
    assert skipped and "never delivered" in skipped[0], events


TOKEN = "saga-admin-token"


def admin(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    """``txc ARGS`` with the admin token (or without any, ``token=None``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    if token:
        env["TXC_TOKEN"] = token
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.slow
async def test_a_service_dead_for_good_marks_sagas_for_a_person_and_saga_resolve_or_retry_finishes_them(
    cluster: Cluster, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXC_TOKEN", TOKEN)  # the coordinator requires it; the participants register with it
    _, coordinator = cluster.coordinator("--unregistered-bound", "2")
    db = await new_db()
    # flight and payment (declined: over the card limit) take 2 s each; hotel is served by a process that dies
    trip(cluster, db, "--delay", "2", "--card-limit", "100", services=("trip-flights", "trip-payments"))
    hotels = trip(cluster, db, services=("trip-hotels",))
    gids = [(await _start(cluster, DIES, "dies", wait=False)).gid for _ in range(2)]

    async def hotels_booked() -> bool:
        return all([(await bookings(db, gid)).get("hotel") == "BOOKED" for gid in gids])

    await eventually(hotels_booked, what="both hotels booked")
    hotels.kill()  # for good: the hotels' compensations cannot be delivered

    async def marked() -> bool:
        return all([await tx_state(cluster.store, gid) == "COMPENSATION_FAILED" for gid in gids])

    await eventually(marked, timeout=60, what="both sagas marked for a person")
    for gid in gids:
        assert await bookings(db, gid) == {"flight": "BOOKED", "hotel": "BOOKED"}  # held; payment was declined
        assert [s for s, e, _ in await _events(cluster, gid) if e == "needs_person"] == ["hotel"]
    listed = txc("tx", "list", "--state", "COMPENSATION_FAILED", "--json", "-c", coordinator)
    assert sorted(t["gid"] for t in json.loads(listed.stdout)["transactions"]) == sorted(gids), listed
    by_hand, once_back = gids

    # Admin calls: refused without the token, like txc tx abort / retry / resolve.
    for command in (["retry", once_back], ["resolve", by_hand, "--step", "hotel"]):
        refused = admin("saga", *command, "-c", coordinator, token=None)
        assert refused.returncode == 2 and "UNAUTHENTICATED" in refused.stderr, refused
    assert await tx_state(cluster.store, by_hand) == "COMPENSATION_FAILED"

    # A person cancelled one hotel booking by hand: resolve records it, the flight is then compensated.
    wrong = admin("saga", "resolve", by_hand, "--step", "flights", "-c", coordinator)
    assert wrong.returncode == 2 and "has no step 'flights'" in wrong.stderr, wrong
    done = admin("saga", "resolve", by_hand, "--step", "hotel", "--by", "ops-ann", "-c", coordinator)
    assert done.returncode == 0, done.stderr

    # The hotel service is back: retry compensates the other saga's hotel, then its flight.
    trip(cluster, db, services=("trip-hotels",))
    done = admin("saga", "retry", once_back, "--by", "ops-bob", "-c", coordinator)
    assert done.returncode == 0, done.stderr

    async def compensated() -> bool:
        return all([await tx_state(cluster.store, gid) == "COMPENSATED" for gid in gids])

    await eventually(compensated, timeout=60, what="both sagas compensated")
    assert await bookings(db, by_hand) == {"flight": "CANCELLED", "hotel": "BOOKED"}  # its hotel: undone by hand
    assert await bookings(db, once_back) == {"flight": "CANCELLED", "hotel": "CANCELLED"}
    assert ("hotel", "resolved", "compensated by hand, by ops-ann") in await _events(cluster, by_hand)
    assert ("", "retried", "compensation retried by ops-bob") in await _events(cluster, once_back)
    again = admin("saga", "resolve", by_hand, "--step", "hotel", "-c", coordinator)
    assert again.returncode == 2 and "it is COMPENSATED" in again.stderr, again


# payment may fail the saga; past it, hotel and car only go forward (they are never undone)
FORWARD = """
name: forward
version: 1
timeout: 120s
steps:
  - id: payment
    action: trip-payments.charge
    compensate: trip-payments.refund
    input: {user: cat, amount: 50}
  - id: hotel
    action: trip-hotels.book
    recovery: forward
    after: [payment]
    timeout: 1s
    input: {user: cat, nights: 3}
  - id: car
    action: trip-cars.book
    recovery: forward
    after: [hotel]
    input: {user: cat, pickup: "${steps.hotel.output.booking_id}"}
"""


@pytest.mark.slow
async def test_a_forward_step_nobody_serves_marks_the_saga_for_a_person_who_completes_it_by_hand_or_retries(
    cluster: Cluster, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXC_TOKEN", TOKEN)
    _, coordinator = cluster.coordinator("--unregistered-bound", "2")
    db = await new_db()
    trip(cluster, db, services=("trip-payments", "trip-cars"))  # nobody serves trip-hotels yet
    gids = [(await _start(cluster, FORWARD, "forward", wait=False)).gid for _ in range(2)]

    async def marked() -> bool:
        return all([await tx_state(cluster.store, gid) == "FORWARD_FAILED" for gid in gids])

    await eventually(marked, timeout=60, what="both sagas marked for a person going forward")
    for gid in gids:
        assert await bookings(db, gid) == {"payment": "BOOKED"}  # charged and kept: past the pivot, nothing undone
        needs = [(s, d) for s, e, d in await _events(cluster, gid) if e == "needs_person"]
        assert [s for s, _ in needs] == ["hotel"] and "forward step trip-hotels.book undeliverable" in needs[0][1]
    listed = txc("tx", "list", "--state", "FORWARD_FAILED", "--json", "-c", coordinator)
    assert sorted(t["gid"] for t in json.loads(listed.stdout)["transactions"]) == sorted(gids), listed
    by_hand, once_back = gids

    # Only the step waiting for a person is completed by hand, and its output must be JSON.
    pending = admin("saga", "resolve", by_hand, "--step", "car", "--output", "{}", "-c", coordinator)
    assert pending.returncode == 2 and "only the forward step waiting for a person" in pending.stderr, pending
    garbled = admin("saga", "resolve", by_hand, "--step", "hotel", "--output", "{oops", "-c", coordinator)
    assert garbled.returncode == 2 and "--output: not JSON" in garbled.stderr, garbled
    assert await tx_state(cluster.store, by_hand) == "FORWARD_FAILED"

    # A person booked one hotel by phone: resolve records its output, and the car step is booked with it.
    done = admin(
        "saga", "resolve", by_hand, "--step", "hotel", "--output", '{"booking_id": "H-42"}', "--by", "ops-ann",
        "-c", coordinator,
    )  # fmt: skip
    assert done.returncode == 0 and "step hotel completed by hand" in done.stdout, done

    # The hotel service is back: retry books the other saga's hotel, then its car.
    trip(cluster, db, services=("trip-hotels",))
    done = admin("saga", "retry", once_back, "--by", "ops-bob", "-c", coordinator)
    assert done.returncode == 0 and "forward steps retried" in done.stdout, done

    async def succeeded() -> bool:
        return all([await tx_state(cluster.store, gid) == "SUCCEEDED" for gid in gids])

    await eventually(succeeded, timeout=60, what="both sagas succeeded")
    assert await bookings(db, by_hand) == {"payment": "BOOKED", "car": "BOOKED"}  # its hotel: booked by hand
    assert await bookings(db, once_back) == {"payment": "BOOKED", "hotel": "BOOKED", "car": "BOOKED"}
    async with cluster.client() as client:
        detail = (await client.saga(by_hand)).detail
    assert detail is not None
    outputs = {s.step_id: json.loads(s.output_json) for s in detail.steps}
    assert outputs["hotel"] == {"booking_id": "H-42"}
    car = await query(db, "SELECT detail FROM trip_booking WHERE gid = $1 AND step_id = 'car'", by_hand)
    assert json.loads(car[0]["detail"])["pickup"] == "H-42"  # the next step ran on the person's output
    assert ("hotel", "resolved", 'completed by hand, by ops-ann, with output {"booking_id":"H-42"}') in (
        await _events(cluster, by_hand)
    )
    assert ("", "retried", "forward steps retried by ops-bob") in await _events(cluster, once_back)
