"""The chaos harness: a system of real processes under a seeded schedule of faults, checked for money created
or lost. Write a workload or a nemesis with the decorators below (see chaos/README.md)."""

from chaos.errors import ChaosError
from chaos.model import Check, OpResult, ParticipantSpec
from chaos.protocols import Nemesis, Workload
from chaos.registry import nemesis, workload
from chaos.runner import RunOptions, RunResult, run

__all__ = [
    "ChaosError",
    "Check",
    "Nemesis",
    "OpResult",
    "ParticipantSpec",
    "RunOptions",
    "RunResult",
    "Workload",
    "nemesis",
    "run",
    "workload",
]
