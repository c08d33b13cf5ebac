"""Saga definition errors: each names ``file:line:col``, the step, and what to write instead."""

from __future__ import annotations

from dataclasses import dataclass

from sdk.errors import DefinitionError, UsageError


@dataclass(frozen=True)
class SagaIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    step: str | None = None

    def __str__(self) -> str:
        where = f"step '{self.step}': " if self.step else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SagaStepError(DefinitionError):
    """A ``@saga_step`` function is defined or used wrongly (no context parameter, a compensation whose
    parameters differ from its action's, a step called directly, ...)."""


class SagaDefinitionError(UsageError, ValueError):
    """A saga definition that does not validate; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[SagaIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column))
        super().__init__("\n".join(str(i) for i in self.issues))
