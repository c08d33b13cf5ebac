"""Workloads that later transaction modes fill in. Selecting one says so plainly instead of running
something else under its name."""

from __future__ import annotations

from typing import Any

from chaos.model import Check, OpResult, ParticipantSpec
from chaos.registry import workload


class _NotYet:
    name = ""
    needs = ""

    def unavailable(self) -> str | None:
        return f"workload {self.name} is not available yet: its module is filled by the issue that brings {self.needs}"

    def participants(self) -> list[ParticipantSpec]:
        return []

    async def operation(self, system: Any, client: Any, rng: Any) -> tuple[dict[str, Any], OpResult]:
        raise NotImplementedError(self.unavailable())

    async def check(self, system: Any, history: Any) -> list[Check]:
        raise NotImplementedError(self.unavailable())


@workload("mixed-at")
class MixedAt(_NotYet):
    name, needs = "mixed-at", "AT branches of proxy SQL inside TCC transactions (the AT issue)"
