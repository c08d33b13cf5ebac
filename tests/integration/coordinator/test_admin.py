"""The admin CLI (`txc tx ...`, `txc db upgrade`) and how a coordinator refuses a bad store."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable

from demo.bank import debit
from sdk.coordinator_client import CoordinatorClient
from tests.integration.coordinator.cluster import TXC, Cluster, accounts, query, tx_state, txc_json
from tests.support import free_port
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


def txc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60)


async def test_tx_abort_rolls_back_a_transaction_still_in_begin(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    db_a = await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    async with cluster.client() as client:
        tx = client.transaction(timeout=60)
        await tx.call(debit.on("bank-a"), account="A", amount=30)
        listed = await asyncio.to_thread(txc_json, "tx", "list", "--state", "BEGIN", "--coordinator", address)
        assert [(t["gid"], t["branch_count"]) for t in listed["transactions"]] == [(tx.gid, 1)]
        done = await asyncio.to_thread(txc, "tx", "abort", tx.gid, "--coordinator", address)
        assert done.returncode == 0, done.stderr

        async def rolled_back() -> bool:
            return await tx_state(cluster.store, tx.gid) == "ROLLED_BACK"

        await eventually(rolled_back, what="ROLLED_BACK")
        again = await asyncio.to_thread(txc, "tx", "abort", tx.gid, "--coordinator", address)
        assert again.returncode == 2 and "ROLLED_BACK" in again.stderr and "Traceback" not in again.stderr
    assert await accounts(db_a) == {"A": (100, 0, 0)}
    shown = await asyncio.to_thread(txc_json, "tx", "show", tx.gid, "--coordinator", address)
    assert shown["timeline"][0]["what"] == "begin"
    assert any(e["what"] == "aborted" for e in shown["timeline"])


async def test_tx_retry_runs_phase_2_now_instead_of_after_the_backoff(cluster: Cluster, new_db: NewDb) -> None:
    # A long first backoff (60 s): without `txc tx retry` the confirm would wait a minute after bank-b returns.
    _, address = cluster.coordinator("--retry-initial", "60")
    db_b = await new_db()
    gid, bank_b = await cluster.commit_with_bank_b_gone(await new_db(), db_b)

    async def failed_once() -> bool:
        rows = await query(cluster.store, "SELECT attempts FROM txc_transaction WHERE gid = $1", gid)
        return rows[0]["attempts"] >= 1

    await eventually(failed_once, what="first failed phase-2 round")
    cluster.bank("bank-b", db_b, listen=bank_b.listen)  # type: ignore[attr-defined]
    done = await asyncio.to_thread(txc, "tx", "retry", gid, "--coordinator", address)
    assert done.returncode == 0, done.stderr

    async def committed() -> bool:
        return await tx_state(cluster.store, gid) == "COMMITTED"

    await eventually(committed, timeout=20, what="COMMITTED right after txc tx retry")
    assert await accounts(db_b) == {"B": (110, 0, 0)}


async def test_a_coordinator_on_an_out_of_date_schema_refuses_to_start_and_names_the_fix(new_db: NewDb) -> None:
    empty = await new_db()
    address = f"127.0.0.1:{free_port()}"
    refused = await asyncio.to_thread(txc, "coordinator", "--listen", address, "--store", empty)
    assert refused.returncode == 2
    assert "txc db upgrade --store" in refused.stderr and "Traceback" not in refused.stderr
    upgraded = await asyncio.to_thread(txc, "db", "upgrade", "--store", empty)
    assert upgraded.returncode == 0, upgraded.stderr
    status = await asyncio.to_thread(txc, "db", "status", "--store", empty)
    assert "current" in status.stdout


async def test_a_bad_store_url_exits_2_with_one_line() -> None:
    done = await asyncio.to_thread(txc, "coordinator", "--store", "mysql://nope")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--store" in done.stderr


async def test_a_coordinator_without_store_runs_on_an_embedded_postgresql(cluster: Cluster, tmp_path: object) -> None:
    address = f"127.0.0.1:{free_port()}"
    data_dir = f"{tmp_path}/pgdata"
    from tests.support import start_process

    proc = start_process([TXC, "coordinator", "--listen", address, "--data-dir", data_dir], cluster.log_dir, "embedded")
    cluster.processes.append(proc)
    proc.wait_serving(address, timeout=60)
    async with CoordinatorClient(address) as client:
        await client.begin("embedded-1", 30)
        detail = await client.query("embedded-1")
        assert detail.transaction.state == "BEGIN"
    assert proc.terminate() == 0
