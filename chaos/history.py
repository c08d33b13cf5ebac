"""The run's history: every operation as the client saw it (invoke, then ok / failed / unknown) and every
nemesis event, with times in seconds since the start, appended to ``history.jsonl`` as it happens."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class Op:
    index: int
    client: int
    start: float
    end: float
    outcome: str
    args: dict[str, Any]
    error: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class FaultWindow:
    kind: str
    start: float
    end: float | None
    plan: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO = open(path, "w")  # noqa: SIM115 - closed by close()
        self.t0 = time.monotonic()
        self.wall0 = time.time()  # to place the store's timestamps (takeovers) on the same axis
        self.ops: list[Op] = []
        self.faults: list[FaultWindow] = []
        self._next = 0

    def restart_clock(self) -> None:
        """Time 0 is when the load starts (after the system is up), so plots and the schedule share an axis."""
        self.t0 = time.monotonic()
        self.wall0 = time.time()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=str) + "\n")

    def invoke(self, client: int) -> tuple[int, float]:
        index, self._next = self._next, self._next + 1
        start = self.now()
        self._write({"type": "invoke", "index": index, "client": client, "t": round(start, 4)})
        return index, start

    def complete(self, index: int, client: int, start: float, outcome: str, args: dict[str, Any], error: str) -> Op:
        op = Op(index, client, start, self.now(), outcome, args, error[:300])
        self.ops.append(op)
        self._write(
            {"type": outcome, "index": index, "client": client, "t": round(op.end, 4),
             "latency": round(op.latency, 4), "args": args, **({"error": op.error} if error else {})}
        )  # fmt: skip
        return op

    def fault_start(self, kind: str, plan: dict[str, Any], evidence: dict[str, Any]) -> FaultWindow:
        window = FaultWindow(kind, self.now(), None, plan, dict(evidence))
        self.faults.append(window)
        self._write({"type": "nemesis", "phase": "start", "kind": kind, "t": round(window.start, 4),
                     "plan": plan, "evidence": evidence})  # fmt: skip
        return window

    def fault_end(self, window: FaultWindow, evidence: dict[str, Any]) -> None:
        window.end = self.now()
        window.evidence.update(evidence)
        self._write({"type": "nemesis", "phase": "stop", "kind": window.kind, "t": round(window.end, 4),
                     "evidence": evidence})  # fmt: skip

    def note(self, what: str, **fields: Any) -> None:
        self._write({"type": "note", "what": what, "t": round(self.now(), 4), **fields})

    def close(self) -> None:
        self._file.close()
