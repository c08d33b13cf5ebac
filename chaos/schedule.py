"""The fault schedule: drawn from the seed before the run starts, so a run is replayed from its seed (the
schedule is also written to the report)."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from chaos.protocols import Nemesis
from chaos.system import System

WARMUP = 3.0  # seconds of clean traffic before the first fault
COOLDOWN = 2.0


@dataclass
class Entry:
    at: float
    kind: str
    duration: float
    plan: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def draw(nemeses: dict[str, Nemesis], system: System, duration: float, rng: random.Random) -> list[Entry]:
    """Faults one after another (so each window belongs to one kind), kinds cycling in a shuffled order so
    every kind fires at least once when the run is long enough for it."""
    entries: list[Entry] = []
    kinds = sorted(nemeses)
    order: list[str] = []
    t = WARMUP
    while kinds:
        if not order:
            order = kinds[:]
            rng.shuffle(order)
        kind = order.pop()
        nem = nemeses[kind]
        length = round(nem.duration(system, rng), 2)
        if t + length > duration - COOLDOWN:
            break
        entries.append(Entry(round(t, 2), kind, length, nem.plan(system, rng)))
        t += length + rng.uniform(1.0, 2.5)
    return entries
