"""Helpers for the saga tests: trip participants (examples/sagas/trip.py) and what they recorded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.integration.coordinator.cluster import Cluster, query
from tests.support import ChildProcess, free_port, start_process

REPO = Path(__file__).resolve().parents[3]
TRIP = REPO / "examples" / "sagas" / "trip.py"
SERVICES = ("trip-flights", "trip-hotels", "trip-cars", "trip-payments")


def trip(
    cluster: Cluster, db: str, *extra: str, services: tuple[str, ...] = SERVICES, registry: str = ""
) -> ChildProcess:
    listen = f"127.0.0.1:{free_port()}"
    registry = registry or cluster.registry
    args = [sys.executable, str(TRIP), "--db", db, "--registry", registry, "--listen", listen, *extra]
    for service in services:
        args += ["--service", service]
    proc = start_process(args, cluster.log_dir, cluster._name(services[0]))
    proc.listen = listen  # type: ignore[attr-defined]
    cluster.processes.append(proc)
    proc.wait_serving(listen)
    return proc


async def calls(db: str, gid: str) -> list[dict[str, Any]]:
    """Every action / compensation the participants answered for ``gid``, in order."""
    rows = await query(
        db, "SELECT step_id, op, outcome, started, ended FROM trip_audit WHERE gid = $1 ORDER BY id", gid
    )
    return [dict(r) for r in rows]


async def bookings(db: str, gid: str) -> dict[str, str]:
    rows = await query(db, "SELECT step_id, state FROM trip_booking WHERE gid = $1", gid)
    return {r["step_id"]: r["state"] for r in rows}


LINEAR = (REPO / "examples" / "sagas" / "linear.yaml").read_text()  # shared with `txc bench saga`
