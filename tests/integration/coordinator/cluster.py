"""Real processes for the coordinator tests: coordinators, bank participants, and what they wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient
from sdk.registry import RegistryClient
from tests.support import ChildProcess, free_port, start_process
from tests.support.polling import eventually

TXC = str(Path(sys.executable).with_name("txc"))


class Cluster:
    """Starts processes for one test; the ``processes`` fixture SIGKILLs whatever is left."""

    def __init__(self, tmp_path: Path, processes: list[ChildProcess], store: str) -> None:
        self.log_dir = tmp_path / "logs"
        self.processes = processes
        self.store = store
        self.registry = ""
        self._count = 0

    def _name(self, base: str) -> str:
        self._count += 1
        return f"{self._count:02d}-{base}"

    def coordinator(
        self, *extra: str, port: int | None = None, registry: str | None = None
    ) -> tuple[ChildProcess, str]:
        address = f"127.0.0.1:{port or free_port()}"
        args = [TXC, "coordinator", "--listen", address, "--store", self.store, "--node-id", f"node-{address}"]
        args += ["--scan-interval", "0.2", *extra]
        if registry:
            args += ["--registry", registry]
        proc = start_process(args, self.log_dir, self._name("coordinator"))
        self.processes.append(proc)
        proc.wait_serving(address)
        if not self.registry:
            self.registry = address
        return proc, address

    def bank(self, service: str, db: str, accounts: str = "", *extra: str, listen: str | None = None) -> ChildProcess:
        listen = listen or f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db]
        args += [
            "--registry",
            self.registry,
            "--listen",
            listen,
            "--accounts",
            accounts,
            "--audit",
            "--ttl",
            "2",
            *extra,
        ]
        proc = start_process(args, self.log_dir, self._name(service))
        proc.listen = listen  # type: ignore[attr-defined]
        self.processes.append(proc)
        proc.wait_serving(listen)
        return proc

    def client(self, address: str | None = None) -> CoordinatorClient:
        return CoordinatorClient(address or self.registry, timeout=10.0)

    async def serve_example_participant(self, example: Path, db: str, registry: str, log_name: str) -> None:
        """Run ``example serve`` (the README's participant, service 'bank') until the registry lists it."""
        serving = start_process(
            [sys.executable, str(example), "serve", "--db", db, "--registry", registry], self.log_dir, log_name
        )
        self.processes.append(serving)
        client = RegistryClient(registry)
        try:
            await eventually(lambda: client.resolve("bank"), what="the example registered as 'bank'")
        finally:
            await client.close(deregister=False)

    async def commit_with_bank_b_gone(self, db_a: str, db_b: str) -> tuple[str, ChildProcess]:
        """Start bank-a (A=100) and bank-b (B=100), try a transfer of 10 from A to B, SIGKILL bank-b, commit:
        phase 2 cannot confirm bank-b's branch. Returns the gid and the dead bank-b (to restart it)."""
        self.bank("bank-a", db_a, "A=100")
        bank_b = self.bank("bank-b", db_b, "B=100")
        async with self.client() as client:
            tx = client.transaction(timeout=60)
            await tx.call(debit.on("bank-a"), account="A", amount=10)
            await tx.call(credit.on("bank-b"), account="B", amount=10)
            bank_b.kill()
            await tx.commit()
        return tx.gid, bank_b


def txc_json(*args: str) -> Any:
    """Run ``txc ARGS --json`` and parse its output."""
    done = subprocess.run([TXC, *args, "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"txc {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return json.loads(done.stdout)


async def query(db: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def accounts(db: str) -> dict[str, tuple[int, int, int]]:
    rows = await query(db, "SELECT id, balance, frozen, incoming FROM bank_account ORDER BY id")
    return {r["id"]: (r["balance"], r["frozen"], r["incoming"]) for r in rows}


async def audit(db: str, gid: str | None = None) -> list[tuple[str, str, str, str]]:
    """(gid, branch, op, barrier outcome) of every phase call the bank answered, in order."""
    rows = await query(db, "SELECT gid, branch_id, op, outcome FROM bank_audit ORDER BY id")
    return [(r["gid"], r["branch_id"], r["op"], r["outcome"]) for r in rows if gid is None or r["gid"] == gid]


async def tx_state(store: str, gid: str) -> str | None:
    rows = await query(store, "SELECT state FROM txc_transaction WHERE gid = $1", gid)
    return rows[0]["state"] if rows else None


async def states(store: str) -> dict[str, int]:
    rows = await query(store, "SELECT state, count(*) AS n FROM txc_transaction GROUP BY state")
    return {r["state"]: r["n"] for r in rows}
