"""Capped exponential backoff with jitter, shared by every retry loop."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(initial: float = 0.05, maximum: float = 2.0, factor: float = 2.0) -> Iterator[float]:
    """Endless delays: initial, initial*factor, ... capped at ``maximum``, each with ±20 % jitter
    so clients that failed together do not retry together."""
    delay = initial
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * factor, maximum)
