"""Reading a process's /metrics the way Prometheus does: every sample with its labels."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(address: str) -> list[Sample]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    families = text_string_to_metric_families(text)
    return [Sample(s.name, dict(s.labels), s.value) for family in families for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def values(samples: list[Sample], name: str, key: str) -> dict[str, float]:
    """``name``'s samples summed by the value of label ``key``."""
    found: dict[str, float] = {}
    for s in samples:
        if s.name == name and key in s.labels:
            found[s.labels[key]] = found.get(s.labels[key], 0.0) + s.value
    return found
