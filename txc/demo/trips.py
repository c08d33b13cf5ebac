"""The demo's saga part: trip bookings from ``examples/sagas/book_trip.yaml`` (flight, then hotel and car in
parallel, then payment), served by ``examples/sagas/trip.py``. Most trips succeed; one asks for more than the
card limit, so its payment is declined and the car, hotel and flight are compensated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from sdk.coordinator_client import CoordinatorClient
from sdk.processes import ChildProcess, free_address, python_command


def saga_examples() -> Path:
    """``examples/sagas`` of the repository: installed as package data of ``txcoord.examples`` (pyproject.toml)."""
    return Path(str(resources.files("txcoord.examples"))) / "sagas"


SERVICES = ("trip-flights", "trip-hotels", "trip-cars", "trip-payments")
CARD_LIMIT = 1000
TRIPS = [
    {"user": "ann", "city": "Oslo", "nights": 2, "amount": 420},
    {"user": "bob", "city": "Porto", "nights": 3, "amount": 610},
    {"user": "cy", "city": "Kyoto", "nights": 7, "amount": 4800},  # above the card limit: compensated
    {"user": "dee", "city": "Lima", "nights": 1, "amount": 250},
]


async def run_trips(
    address: str, db: str, log_dir: Path, progress: Callable[[str], None], keep: list[ChildProcess] | None = None
) -> dict[str, Any]:
    """The trips; the participant is stopped at the end, or handed to ``keep`` (still serving)."""
    listen, examples = free_address(), saga_examples()
    args = [str(examples / "trip.py"), "--db", db, "--registry", address, "--listen", listen]
    args += ["--card-limit", str(CARD_LIMIT), "--delay", "0.2", *(a for s in SERVICES for a in ("--service", s))]
    participant = ChildProcess(python_command(*args), log_dir / "trip.log", address=listen)
    try:
        await participant.serving(timeout=60)
        async with CoordinatorClient(address, session=False) as client:
            name, version, _ = await client.register_saga((examples / "book_trip.yaml").read_text(), "book_trip.yaml")
            progress(f"saga {name} v{version} registered; {len(TRIPS)} trips booked at once (card limit {CARD_LIMIT})")
            results = await asyncio.gather(*(client.start_saga(name, trip, wait=True) for trip in TRIPS))
    finally:
        if keep is None:
            participant.stop()
        else:
            keep.append(participant)
    trips = []
    for trip, result in zip(TRIPS, results, strict=True):
        detail = result.detail
        order = sorted((s.completion_order, s.step_id) for s in detail.steps if s.completion_order) if detail else []
        trips.append(
            {
                "gid": result.gid,
                "user": trip["user"],
                "amount": trip["amount"],
                "state": result.state,
                "steps": {s.step_id: s.state for s in result.steps},
                "completed_in_order": [step for _, step in order],
                "error": result.error,
            }
        )
        progress(
            f"trip of {trip['user']} ({trip['amount']}): {result.state}"
            + (f" - {result.error}" if result.error else "")
        )
    return {
        "saga": "book_trip",
        "succeeded": sum(t["state"] == "SUCCEEDED" for t in trips),
        "compensated": sum(t["state"] == "COMPENSATED" for t in trips),
        "trips": trips,
    }
