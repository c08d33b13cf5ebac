"""The demo's numbers as its own processes report them: each process it starts serves Prometheus metrics, and
at the end the demo scrapes them and sums up (so what is shown comes from the metrics, not from the demo)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sdk.processes import free_address


def scrape(address: str) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _by(samples: list[tuple[str, dict[str, str], float]], name: str, *keys: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for sample, labels, value in samples:
        if sample == name and value:
            key = " ".join(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0) + int(value)
    return out


@dataclass
class DemoMetrics:
    """Where each process of the demo serves its metrics (``name`` -> HOST:PORT)."""

    addresses: dict[str, str] = field(default_factory=dict)

    def listen(self, name: str) -> list[str]:
        """The flags that make process ``name`` serve metrics (on a free port, kept across its restarts)."""
        address = self.addresses.setdefault(name, free_address())
        return ["--metrics-listen", address]

    def where(self) -> str:
        return ", ".join(f"{name} http://{address}/metrics" for name, address in self.addresses.items())

    def summary(self) -> dict[str, Any]:
        """Commits and rollbacks per mode, phase-2 calls and retries, participants' calls; a process that does
        not answer is named instead."""
        out: dict[str, Any] = {"where": dict(self.addresses)}
        participants: dict[str, int] = {}
        for name, address in self.addresses.items():
            try:
                samples = scrape(address)
            except OSError as exc:
                out.setdefault("unreachable", {})[name] = str(exc)
                continue
            if name == "coordinator":
                out["finished"] = _by(samples, "txc_transactions_finished_total", "mode", "outcome")
                out["phase2_calls"] = _by(samples, "txc_phase2_calls_total", "op", "outcome")
                out["phase2_retries"] = int(sum(v for n, _, v in samples if n == "txc_phase2_retries_total"))
                out["needing_person"] = int(sum(v for n, _, v in samples if n == "txc_transactions_needing_person"))
                continue
            for key, n in _by(samples, "txc_participant_calls_total", "op", "outcome").items():
                participants[key] = participants.get(key, 0) + n
        out["participant_calls"] = participants
        return out
