"""The two kinds of plugin of the chaos harness: a workload (load and invariants) and a nemesis (one kind of
fault). Register them with the decorators of :mod:`chaos.registry`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import random

    from chaos.history import History
    from chaos.model import Check, OpResult, ParticipantSpec
    from chaos.system import System


class Workload(Protocol):
    """Optional members the runner looks for (a Protocol cannot declare them optional):
    ``def dbproxy(self) -> chaos.dbproxies.ProxySpec``, the proxies the system runs for it (bank-xa);
    ``async def prepare(self, system)``, run once the system is up, before the load and the faults (bank-saga
    registers its saga definitions there)."""

    name: str

    #: what ``available`` returns when the workload cannot run yet; None when it can
    def unavailable(self) -> str | None: ...

    def participants(self) -> list[ParticipantSpec]: ...

    async def operation(self, system: System, client: Any, rng: random.Random) -> tuple[dict[str, Any], OpResult]:
        """Run one operation through ``client`` (a ``CoordinatorClient``); its arguments (with ``gid``) and
        what the client saw."""

    async def check(self, system: System, history: History) -> list[Check]:
        """Invariants after heal and quiescence, read from the participants' own databases."""


class Nemesis(Protocol):
    kind: str

    def unavailable(self, system: System) -> str | None:
        """Why this fault cannot hit this system (e.g. no dbproxy in the workload); None when it can."""

    def plan(self, system: System, rng: random.Random) -> dict[str, Any]:
        """Pick the target and parameters of one injection (recorded in the schedule for replay)."""

    async def inject(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        """Start the fault; evidence that it happened (pids killed, return codes, link counters)."""

    async def heal(self, system: System, plan: dict[str, Any]) -> dict[str, Any]:
        """End the fault; evidence of its effect."""

    def duration(self, system: System, rng: random.Random) -> float: ...
