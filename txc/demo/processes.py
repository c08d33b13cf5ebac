"""Child processes of the demo and the benchmark: a coordinator and bank participants, with logs."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from txc.processes import ChildProcess


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def txc_command() -> list[str]:
    script = Path(sys.executable).with_name("txc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "txc"]


def spawn(name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None) -> ChildProcess:
    """Start ``args`` with its output in ``log_dir/name.log`` (``env``: added to this process's environment)."""
    return ChildProcess(args, log_dir / f"{name}.log", env)


def start_coordinator(
    address: str, store: str | None, log_dir: Path, *extra: str, data_dir: Path | None = None
) -> ChildProcess:
    args = [*txc_command(), "coordinator", "--listen", address]
    if store is not None:
        args += ["--store", store]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return spawn("coordinator", [*args, *extra], log_dir)


def start_bank(
    service: str,
    db: str,
    registry: str,
    log_dir: Path,
    accounts: str = "",
    *extra: str,
    listen: str | None = None,
    env: dict[str, str] | None = None,
) -> ChildProcess:
    args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db, "--registry", registry]
    args += ["--listen", listen or free_address(), "--accounts", accounts, *extra]
    return spawn(service, args, log_dir, env)
