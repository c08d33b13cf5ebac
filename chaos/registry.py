"""Where workloads and nemeses are found by name: a name → factory table filled by decorators. The built-in
ones register themselves exactly like a user's module does (``txc chaos run --plugin my_module``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from chaos.errors import ChaosError
from chaos.protocols import Nemesis, Workload

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
