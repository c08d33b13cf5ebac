"""The overview's chart: transactions per minute by outcome, as stacked bars laid out for the ``chart`` macro."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sdk._proto import coordinator_pb2 as pb

WIDTH = 520
HEIGHT = 140
LEFT = 40  # room for the axis labels
BOTTOM = 18
OUTCOMES = (("committed", "#4caf50"), ("rolled_back", "#5c7bd9"), ("other", "#b0b0b0"))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    first: str
    last: str
    total: int


def chart(minutes: Sequence[pb.ActivityMinute], span: int, now: float) -> Chart:
    """Bars for the last ``span`` minutes ending with the current one (minutes without transactions: none)."""
    current = int(now // 60) * 60
    starts = [current - 60 * (span - 1 - i) for i in range(span)]
    by_start = {int(m.minute): m for m in minutes}
    peak = max((m.committed + m.rolled_back + m.other for m in minutes), default=0)
    plot = HEIGHT - BOTTOM
    slot = (WIDTH - LEFT) / span
    bars = []
    for i, start in enumerate(starts):
        minute = by_start.get(start)
        base = float(plot)
        for name, fill in OUTCOMES:
            count = int(getattr(minute, name)) if minute is not None else 0
            if not count:
                continue
            height = (plot - 4) * count / peak
            base -= height
            label = f"{_clock(start)}: {count} {name.replace('_', ' ')}"
            bars.append(Bar(LEFT + i * slot + 1, base, max(slot - 2, 1), height, fill, label))
    total = sum(m.committed + m.rolled_back + m.other for m in minutes)
    return Chart(WIDTH, HEIGHT, bars, peak, _clock(starts[0]), _clock(starts[-1]), total)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")
