"""What the saga store keeps about one instance and its steps."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class StepState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"  # an attempt was sent (or is about to be): the action may have applied
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # out of attempts; the action may still have applied once (a lost reply)
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"


# a step that may have applied: what a compensation (or a person resolving one) undoes
COMPENSABLE = frozenset({StepState.RUNNING, StepState.SUCCEEDED, StepState.FAILED, StepState.COMPENSATING})


@dataclass
class StepRecord:
    step_id: str
    state: StepState
    input: Any = None
    output: Any = None
    attempts: int = 0
    comp_attempts: int = 0
    last_error: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    completion_seq: int | None = None
    compensated_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass
class SagaInstance:
    gid: str
    name: str
    version: int
    state: str
    input: Any
    reason: str | None = None
    error: str | None = None
    owner: str | None = None
    deadline: datetime | None = None
    expired: bool = False
    created_at: datetime | None = None
    finished_at: datetime | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    # not stored: steps whose first attempt was written with the start (their first send needs no write)
    prestarted: set[str] = field(default_factory=set)
