"""Smooth weighted round robin over a service's endpoints, with a warm-up ramp for new ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

# A warming endpoint still gets a little traffic, so it is exercised from the start.
MIN_WARMUP_WEIGHT = 0.05


def warmup_weight(age: float, warmup: float) -> float:
    """The weight of an endpoint seen ``age`` seconds ago by a balancer with a ``warmup`` of that many seconds."""
    if warmup <= 0:
        return 1.0
    return max(MIN_WARMUP_WEIGHT, min(1.0, age / warmup))


class Balancer:
    """Picks endpoints in proportion to their weight; with equal weights this is plain round robin.

    An endpoint first seen less than ``warmup`` seconds ago has its weight ramped linearly from
    ``MIN_WARMUP_WEIGHT`` to 1 (as Dubbo's warm-up does), so a cold process is not flooded at once.
    Endpoints marked down are skipped until their penalty passes, unless every endpoint is down.
    """

    def __init__(self, warmup: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.warmup = warmup
        self._clock = clock
        self._first_seen: dict[str, float] = {}
        self._current: dict[str, float] = {}
        self._down_until: dict[str, float] = {}
        self._addresses: list[str] = []

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    def update(self, addresses: Iterable[str], *, initial: bool = False) -> None:
        """Replace the endpoint set. With ``initial``, endpoints count as already warm (they were
        serving before this client started)."""
        now = self._clock()
        new = sorted(set(addresses))
        for address in new:
            if address not in self._first_seen:
                self._first_seen[address] = now - (self.warmup if initial else 0.0)
                self._current[address] = 0.0
        for gone in set(self._first_seen) - set(new):
            del self._first_seen[gone]
            self._current.pop(gone, None)
            self._down_until.pop(gone, None)
        self._addresses = new

    def weight(self, address: str) -> float:
        return warmup_weight(self._clock() - self._first_seen.get(address, 0.0), self.warmup)

    def mark_down(self, address: str, seconds: float = 1.0) -> None:
        self._down_until[address] = self._clock() + seconds

    def pick(self, exclude: Iterable[str] = ()) -> str | None:
        now = self._clock()
        excluded = set(exclude)
        candidates = [a for a in self._addresses if a not in excluded and self._down_until.get(a, 0.0) <= now]
        if not candidates:
            candidates = [a for a in self._addresses if a not in excluded]
        if not candidates:
            return None
        total = 0.0
        best: str | None = None
        for address in candidates:
            weight = self.weight(address)
            total += weight
            self._current[address] += weight
            if best is None or self._current[address] > self._current[best]:
                best = address
        assert best is not None
        self._current[best] -= total
        return best
