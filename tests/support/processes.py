"""Real child processes for integration tests (``sdk.processes.ChildProcess``), started from the repository."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sdk.processes import ChildProcess

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def start_process(args: Sequence[str], log_dir: Path, name: str, env: dict[str, str] | None = None) -> ChildProcess:
    """Start ``args`` (``txc`` and ``dbproxy`` resolve to this venv's scripts)."""
    argv = list(args)
    if argv and (VENV_BIN / argv[0]).exists():
        argv[0] = str(VENV_BIN / argv[0])
    return ChildProcess(argv, log_dir / f"{name}.log", env, cwd=REPO)
