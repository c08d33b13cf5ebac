"""Capped exponential backoff: the one retry policy of every retry loop (RPC clients, phase 2, saga steps)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits of ``initial``, ``initial * factor``, ... capped at ``maximum``."""

    initial: float = 0.05
    maximum: float = 2.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based)."""
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** min(failures - 1, 64)))

    def jittered(self) -> Iterator[float]:
        """Endless delays, each with ±20 % jitter so clients that failed together do not retry together."""
        failures = 0
        while True:
            failures += 1
            yield self.delay(failures) * random.uniform(0.8, 1.2)


def backoff_delays(initial: float = 0.05, maximum: float = 2.0, factor: float = 2.0) -> Iterator[float]:
    """The jittered delays of ``Backoff(initial, maximum, factor)``: what an RPC client's retry loop sleeps."""
    return Backoff(initial, maximum, factor).jittered()
