"""One TCC bench deployment: a coordinator and two banks (bank-a, bank-b), each on a fresh database of the
bench's PostgreSQL, serving and registered. ``txc bench tcc`` runs one; ``--observability`` runs one per variant
side by side."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from bench.harness import BenchSettings, databases, start_coordinator
from bench.secure import SecureBench
from demo import bank
from sdk.branch_mac import KEY_ENV
from sdk.processes import ChildProcess, free_address

ACCOUNTS = 2000
OPENING = 10**9
BANKS = ("bank-a", "bank-b")


def security(settings: BenchSettings) -> SecureBench | None:
    """Set the branch key every process inherits (or its absence) through the environment, as in a deployment;
    with ``settings.secure``, make the TLS files and credentials the stacks use."""
    if settings.signed:
        os.environ[KEY_ENV] = secrets.token_hex(32)
    else:
        os.environ.pop(KEY_ENV, None)
    return SecureBench.create(settings.log_dir / "secure") if settings.secure else None


@dataclass
class TccStack:
    address: str  # the coordinator's
    bank_addresses: dict[str, str]
    coordinator: ChildProcess
    databases: dict[str, str]  # "coordinator", "bank-a", "bank-b" -> URL
    children: list[ChildProcess] = field(default_factory=list)  # stopped, last first, when the stack ends

    @property
    def bank_pids(self) -> list[int]:
        return [child.pid for child in self.children[1:]]


@asynccontextmanager
async def tcc_stack(
    settings: BenchSettings, name: str = "", env: dict[str, str] | None = None, secure: SecureBench | None = None
) -> AsyncIterator[TccStack]:
    """Start a stack (``name``: a prefix of its databases and its log directory; ``env``: added to every
    process's environment) and stop it afterwards."""
    prefix = f"txc_bench_{name}_" if name else "txc_bench_"
    urls = await databases(settings, f"{prefix}coordinator", f"{prefix}bank_a", f"{prefix}bank_b")
    if name:
        settings = replace(settings, log_dir=settings.log_dir / name)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    address = free_address()
    stack = TccStack(
        address,
        {b: free_address() for b in BANKS},
        start_coordinator(address, urls[0], settings, *(secure.coordinator_args() if secure else ()), env=env),
        dict(zip(("coordinator", *BANKS), urls, strict=True)),
    )
    stack.children.append(stack.coordinator)
    try:
        credentials = secure.channel_credentials() if secure else None
        await stack.coordinator.serving(timeout=60, credentials=credentials)
        for service, letter in zip(BANKS, "ab", strict=True):
            opening = ",".join(f"{letter}{i}={OPENING}" for i in range(ACCOUNTS))
            command = bank.command(
                service, stack.databases[service], address, stack.bank_addresses[service], opening, *settings.bank_args
            )
            bank_env = {**(env or {}), **(secure.bank_env(service) if secure else {})}
            log = settings.log_dir / f"{service}.log"
            stack.children.append(ChildProcess(command, log, bank_env or None, address=stack.bank_addresses[service]))
        for child in stack.children[1:]:
            await child.serving(timeout=60, credentials=credentials)
        yield stack
    finally:
        for child in reversed(stack.children):
            child.stop()
