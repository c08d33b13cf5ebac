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

from tests.integration.coordinator.cluster import TXC, Cluster, tx_state
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


async def _marked_for_person(cluster: Cluster, new_db: NewDb) -> tuple[str, str, Any]:
    """A saga whose hotel service died for good after booking: marked for a person, the flight still held.
    Returns (gid, the participants' database, the dead hotel process)."""
    _, coordinator = cluster.coordinator("--unregistered-bound", "2")
    db = await new_db()
    trip(cluster, db, "--delay", "2", "--card-limit", "100", services=("trip-flights", "trip-payments"))
    hotels = trip(cluster, db, services=("trip-hotels",))
    started = await _start(cluster, DIES, "dies", wait=False)
    gid = started.gid

    async def hotel_booked() -> bool:
        return (await bookings(db, gid)).get("hotel") == "BOOKED"

    await eventually(hotel_booked, what="the hotel booked")
    hotels.kill()  # for good: its compensation can never be delivered

    async def marked() -> bool:
        return await tx_state(cluster.store, gid) == "COMPENSATION_FAILED"

    await eventually(marked, timeout=60, what="the saga marked for a person")
    assert await bookings(db, gid) == {"flight": "BOOKED", "hotel": "BOOKED"}  # payment was declined
    events = await _events(cluster, gid)
    assert [s for s, e, _ in events if e == "needs_person"] == ["hotel"], events
    listed = txc("tx", "list", "--state", "COMPENSATION_FAILED", "--json", "-c", coordinator)
    assert [t["gid"] for t in json.loads(listed.stdout)["transactions"]] == [gid], listed
    return gid, db, hotels


@pytest.mark.slow
async def test_a_service_dead_for_good_marks_the_saga_for_a_person_and_saga_resolve_finishes_it(
    cluster: Cluster, new_db: NewDb
) -> None:
    gid, db, _ = await _marked_for_person(cluster, new_db)
    wrong = txc("saga", "resolve", gid, "--step", "flights", "-c", cluster.registry)
    assert wrong.returncode == 2 and "has no step 'flights'" in wrong.stderr, wrong
    done = txc("saga", "resolve", gid, "--step", "hotel", "--by", "ops-ann", "-c", cluster.registry)
    assert done.returncode == 0, done.stderr

    async def compensated() -> bool:
        return await tx_state(cluster.store, gid) == "COMPENSATED"

    await eventually(compensated, timeout=60, what="the saga compensated")
    held = await bookings(db, gid)
    assert held["flight"] == "CANCELLED" and held["hotel"] == "BOOKED", held  # a person undid the hotel
    events = await _events(cluster, gid)
    assert ("hotel", "resolved", "compensated by hand, by ops-ann") in events
    again = txc("saga", "resolve", gid, "--step", "hotel", "-c", cluster.registry)
    assert again.returncode == 2 and "it is COMPENSATED" in again.stderr, again


@pytest.mark.slow
async def test_a_service_dead_for_good_marks_the_saga_for_a_person_and_saga_retry_finishes_it_once_it_is_back(
    cluster: Cluster, new_db: NewDb
) -> None:
    gid, db, _ = await _marked_for_person(cluster, new_db)
    trip(cluster, db, services=("trip-hotels",))  # the service is back
    done = txc("saga", "retry", gid, "--by", "ops-bob", "-c", cluster.registry)
    assert done.returncode == 0, done.stderr

    async def compensated() -> bool:
        return await tx_state(cluster.store, gid) == "COMPENSATED"

    await eventually(compensated, timeout=60, what="the saga compensated")
    held = await bookings(db, gid)
    assert held["flight"] == "CANCELLED" and held["hotel"] == "CANCELLED", held
    assert ("", "retried", "compensation retried by ops-bob") in await _events(cluster, gid)


async def test_saga_retry_and_resolve_are_admin_calls_that_need_the_token(cluster: Cluster) -> None:
    _, coordinator = cluster.coordinator("--token", "saga-admin-token")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    for command in (["retry", "g-1"], ["resolve", "g-1", "--step", "hotel"]):
        args = [TXC, "saga", *command, "-c", coordinator]
        refused = subprocess.run(args, capture_output=True, text=True, timeout=60, env=base)
        assert refused.returncode == 2 and "UNAUTHENTICATED" in refused.stderr, refused
        allowed = subprocess.run(
            args, capture_output=True, text=True, timeout=60, env={**base, "TXC_TOKEN": "saga-admin-token"}
        )
        assert allowed.returncode == 2 and "no global transaction 'g-1'" in allowed.stderr, allowed
