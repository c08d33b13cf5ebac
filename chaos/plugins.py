"""How workloads and nemeses plug in: a name → factory table filled by decorators. The built-in ones
register themselves exactly like a user's module does (``txc chaos run --plugin my_module``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from chaos.errors import ChaosError

if TYPE_CHECKING:
    import random

    from chaos.history import History
    from chaos.system import System


@dataclass
class ParticipantSpec:
    """A participant service the system runs for a workload. ``db`` is where it keeps its state: ``pg`` (a
    database of its own on the harness's PostgreSQL) or ``mysql`` (the harness's MariaDB). ``command`` is the
    argv with ``{service} {listen} {advertise} {registry} {db} {accounts}`` filled in by the system; the
    default runs the chaos bank (``chaos.bank.participant``)."""

    service: str
    db: str = "pg"
    accounts: dict[str, int] = field(default_factory=dict)
    command: list[str] | None = None


@dataclass
class OpResult:
    """What the client saw: ``ok``, ``failed`` (definitely not applied) or ``unknown``."""

    outcome: str
    error: str = ""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    offenders: list[dict[str, Any]] = field(default_factory=list)


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


W = TypeVar("W")
WORKLOADS: dict[str, Callable[[], Workload]] = {}
NEMESES: dict[str, Callable[[], Nemesis]] = {}


def workload(name: str) -> Callable[[W], W]:
    """Register a workload factory (a class or a function returning a Workload) under ``name``."""

    def register(factory: W) -> W:
        WORKLOADS[name] = factory  # type: ignore[assignment]
        return factory

    return register


def nemesis(kind: str) -> Callable[[W], W]:
    """Register a nemesis factory under the ``--faults`` kind ``kind``."""

    def register(factory: W) -> W:
        NEMESES[kind] = factory  # type: ignore[assignment]
        return factory

    return register


def load_builtins() -> None:
    importlib.import_module("chaos.workloads")
    importlib.import_module("chaos.nemeses")


def load_plugin(spec: str) -> None:
    """Import a user's module (dotted name, or a path to a .py file); importing it registers what it defines."""
    try:
        if spec.endswith(".py"):
            path = Path(spec)
            if not path.exists():
                raise ChaosError(f"--plugin: no such file {spec}")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except ChaosError:
        raise
    except Exception as exc:
        raise ChaosError(f"--plugin {spec}: could not import it: {type(exc).__name__}: {exc}") from exc
