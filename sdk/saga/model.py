"""A saga definition as the coordinator runs it: steps with actions, compensations, inputs and dependencies."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sdk.rpc.backoff import Backoff


class RecoveryMode(enum.StrEnum):
    """How a step recovers from its failure (a saga's ``recovery:``); not the coordinator's recovery loops."""

    BACKWARD = "backward"  # on failure, compensate what completed, newest first
    FORWARD = "forward"  # on failure, retry with backoff until it succeeds (steps past a pivot)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts of a step's action before it counts as failed; backoff doubles up to ``max_backoff``.

    The default waits 0.5 + 1 + 2 + 4 s between its five attempts: a participant restarting for a few seconds
    does not compensate the sagas in flight (with 3 attempts 200 ms apart, a 3 s restart compensated 1% of
    them). A business refusal is never retried, whatever the policy."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based)."""
        return Backoff(self.backoff, self.max_backoff).delay(failures)


@dataclass(frozen=True)
class ActionRef:
    service: str
    action: str

    def __str__(self) -> str:
        return f"{self.service}.{self.action}"


@dataclass(frozen=True)
class Step:
    id: str
    action: ActionRef
    compensate: ActionRef | None
    input: Any
    after: tuple[str, ...]
    retry: RetryPolicy
    timeout: float
    recovery: RecoveryMode


@dataclass(frozen=True)
class SagaDefinition:
    """A validated saga (``load_saga`` / ``parse_saga`` build it from YAML): its steps in file order, each with its
    action, compensation, dependencies, retry policy and timeout; ``source`` is the text it came from."""

    name: str
    version: int
    steps: tuple[Step, ...]
    timeout: float = 600.0
    recovery: RecoveryMode = RecoveryMode.BACKWARD
    input_schema: dict[str, Any] | None = None
    description: str = ""
    source: str = field(default="", repr=False, compare=False)

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError if there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def ids(self) -> list[str]:
        """The step ids, in file order."""
        return [s.id for s in self.steps]

    def ancestors(self, step_id: str) -> set[str]:
        """Every step that must complete before ``step_id`` starts."""
        seen: set[str] = set()
        todo = list(self.step(step_id).after)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.step(current).after)
        return seen
