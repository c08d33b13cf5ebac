"""What workloads and the runner exchange: the participant services a workload asks for, what a client saw of
one operation, and the verdict of one invariant check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ParticipantSpec:
    """A participant service the system runs for a workload. ``db`` is where it keeps its state: ``pg`` (a
    database of its own on the harness's PostgreSQL) or ``mysql`` (the harness's MariaDB). ``command`` is the
    argv with ``{service} {listen} {advertise} {registry} {db} {accounts}`` filled in by the system; the
    default runs the chaos bank (``chaos.bank.participant``)."""

    service: str
    db: str = "pg"
    accounts: dict[str, int] = field(default_factory=dict)
    command: list[str] | None = None


@dataclass
class OpResult:
    """What the client saw: ``ok``, ``failed`` (definitely not applied) or ``unknown``."""

    outcome: str
    error: str = ""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    offenders: list[dict[str, Any]] = field(default_factory=list)
