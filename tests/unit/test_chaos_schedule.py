"""The chaos fault schedule is drawn from the seed alone (a failing run can be replayed) and covers every kind."""

from __future__ import annotations

import itertools
import random
from typing import Any

from chaos.nemeses import NetLatency, Pause
from chaos.registry import NEMESES, load_builtins
from chaos.schedule import draw


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


class _FakeSystem:  # just what planning reads: names of processes and links
    def __init__(self) -> None:
        self.coordinators = [_Named("coord-1"), _Named("coord-2")]
        self.links = {"caller->coord-1": None, "coord-1->store": None}


def _schedule(seed: int) -> list[dict[str, Any]]:
    nemeses = {"pause": Pause(), "net-latency": NetLatency()}
    return [e.to_json() for e in draw(nemeses, _FakeSystem(), 60.0, random.Random(seed))]  # type: ignore[arg-type]


def test_the_same_seed_draws_the_same_schedule() -> None:
    assert _schedule(3) == _schedule(3)
    assert _schedule(3) != _schedule(4)


def test_every_kind_is_scheduled_and_windows_do_not_overlap() -> None:
    entries = _schedule(5)
    assert {e["kind"] for e in entries} == {"pause", "net-latency"}
    for before, after in itertools.pairwise(entries):
        assert before["at"] + before["duration"] <= after["at"]
    assert entries[-1]["at"] + entries[-1]["duration"] <= 60.0


def test_builtin_kinds_are_registered_like_plugins() -> None:
    load_builtins()
    expected = {"kill-coordinator", "kill-participant", "kill-proxy", "kill-store", "kill-mysql", "pause",
                "net-latency", "net-reset", "net-blackhole", "net-partition", "clock-skew"}  # fmt: skip
    assert set(NEMESES) == expected
