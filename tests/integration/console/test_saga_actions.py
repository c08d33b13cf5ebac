"""A saga marked for a person, finished from the console: resolve its waiting step by hand (with the output a
person got) or retry it once its service is back, each behind its confirmation, with the admin login and the
form's CSRF token, and recorded in the saga's timeline with who did it. Without the login: 403, nothing done."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from tests.integration.console.conftest import TOKEN, start_console
from tests.integration.console.test_security import Visitor
from tests.integration.coordinator.cluster import Cluster, tx_state
from tests.integration.coordinator.sagas import bookings, trip
from tests.integration.coordinator.test_saga_stuck_names import FORWARD
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


def _form(gid: str, action: str, csrf: str, step: str = "", outcome: str = "", output: str = "") -> dict[str, str]:
    return {
        "gid": gid,
        "action": action,
        "branch": step,
        "outcome": outcome,
        "confirmed": "yes",
        "csrf": csrf,
        "output": output,
    }


def _actions(html: str) -> list[tuple[str, str, str]]:
    """(action, step, outcome) of each action link of a page."""
    return re.findall(r'<a class="action" data-action="([^"]+)" data-branch="([^"]*)" data-outcome="([^"]*)"', html)


async def test_a_saga_waiting_for_a_person_is_resolved_or_retried_from_the_console(
    cluster: Cluster, new_db: NewDb
) -> None:
    _, address = cluster.coordinator("--unregistered-bound", "2")
    db = await new_db()
    trip(cluster, db, services=("trip-payments", "trip-cars"))  # nobody serves trip-hotels yet
    async with cluster.client() as client:
        await client.register_saga(FORWARD, "forward.yaml")
        gids = [(await client.start_saga("forward", {})).gid for _ in range(2)]

    async def marked() -> bool:
        return all([await tx_state(cluster.store, gid) == "FORWARD_FAILED" for gid in gids])

    await eventually(marked, timeout=60, what="both sagas marked for a person going forward")
    by_hand, once_back = gids
    _, url = await asyncio.to_thread(start_console, cluster, address)

    def resolve() -> dict[str, object]:
        seen: dict[str, object] = {}
        stranger = Visitor(url)
        seen["stranger"] = stranger.request(
            "/tx/act", _form(by_hand, "saga-resolve", stranger.csrf(), "hotel", "completed", "{}")
        )[0]
        alice = Visitor(url)
        assert alice.request("/login", {"csrf": alice.csrf(), "name": "alice", "token": TOKEN, "next": "/"})[0] == 200
        _, page = alice.request(f"/saga?gid={by_hand}")
        seen["offered"] = _actions(page)
        _, transaction = alice.request(f"/tx?gid={by_hand}")
        seen["transaction page"] = "waits for a person" in transaction
        status, confirm = alice.request(f"/tx/confirm?gid={by_hand}&action=saga-resolve&branch=hotel&outcome=completed")
        seen["confirm"] = (status, 'name="output"' in confirm, "Resolve step as completed by hand" in confirm)
        csrf = alice.csrf(f"/saga?gid={by_hand}")
        garbled = alice.request("/tx/act", _form(by_hand, "saga-resolve", csrf, "hotel", "completed", "{oops"))
        seen["garbled"] = (garbled[0], "output: not JSON" in garbled[1])
        seen["no csrf"] = alice.request("/tx/act", _form(by_hand, "saga-resolve", "", "hotel", "completed", "{}"))[0]
        status, done = alice.request(
            "/tx/act", _form(by_hand, "saga-resolve", csrf, "hotel", "completed", '{"booking_id": "H-42"}')
        )
        # the coordinator drives the rest at once: the saga may have finished by the time it answers
        seen["resolved"] = (status, bool(re.search(r"by hand \(hotel\): now (RUNNING|SUCCEEDED)<", done)))
        return seen

    seen = await asyncio.to_thread(resolve)
    assert seen == {
        "stranger": 403,
        "offered": [("saga-retry", "", ""), ("saga-resolve", "hotel", "completed")],
        "transaction page": True,
        "confirm": (200, True, True),
        "garbled": (400, True),
        "no csrf": 403,
        "resolved": (200, True),
    }

    trip(cluster, db, services=("trip-hotels",))  # the hotels are back: retry the other saga

    def retry() -> tuple[int, bool]:
        bob = Visitor(url)
        assert bob.request("/login", {"csrf": bob.csrf(), "name": "bob", "token": TOKEN, "next": "/"})[0] == 200
        status, done = bob.request("/tx/act", _form(once_back, "saga-retry", bob.csrf(f"/saga?gid={once_back}")))
        return status, bool(re.search(r"Retry the saga now: now (RUNNING|SUCCEEDED)<", done))

    assert await asyncio.to_thread(retry) == (200, True)

    async def succeeded() -> bool:
        return all([await tx_state(cluster.store, gid) == "SUCCEEDED" for gid in gids])

    await eventually(succeeded, timeout=60, what="both sagas succeeded")
    assert await bookings(db, by_hand) == {"payment": "BOOKED", "car": "BOOKED"}  # its hotel: booked by hand
    assert await bookings(db, once_back) == {"payment": "BOOKED", "hotel": "BOOKED", "car": "BOOKED"}
    events = {}
    async with cluster.client() as client:
        for gid in gids:
            detail = (await client.saga(gid)).detail
            assert detail is not None
            events[gid] = [(e.step_id, e.event, e.detail) for e in detail.events]
    assert ("hotel", "resolved", 'completed by hand, by console: alice, with output {"booking_id":"H-42"}') in (
        events[by_hand]
    )
    assert ("", "retried", "forward steps retried by console: bob") in events[once_back]
    # a finished saga offers nothing more
    _, page = await asyncio.to_thread(Visitor(url).request, f"/saga?gid={by_hand}")
    assert _actions(page) == []
