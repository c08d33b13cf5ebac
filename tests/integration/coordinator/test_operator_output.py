"""Issue #16 items 8 and 9: what operators see is true — a participant waits for a registry that is not up
yet, a wildcard listener says so, a transaction a person resolved both ways says so, a transaction marked for
a person shows no next attempt, and bad command-line values are named."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable

import grpc
from typer.testing import CliRunner

from demo.bank import credit, debit
from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc
from tests.integration.coordinator.cluster import TXC, Cluster, accounts, query, tx_state
from tests.support import ChildProcess, free_port, start_process
from tests.support.polling import eventually
from txc.main import app

NewDb = Callable[..., Awaitable[str]]


def txc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60)


async def test_a_participant_started_before_its_registry_waits_for_it(cluster: Cluster, new_db: NewDb) -> None:
    port = free_port()
    cluster.registry = f"127.0.0.1:{port}"  # nothing listens there yet
    db_a, db_b = await new_db(), await new_db()
    bank_a = cluster.bank("bank-a", db_a, "A=100")
    await eventually(lambda: "registry unreachable" in bank_a.log_path.read_text(), what="a 'waiting' line")
    assert bank_a.alive(), "the participant exited instead of waiting for its registry"
    cluster.coordinator(port=port)
    cluster.bank("bank-b", db_b, "B=0")
    async with cluster.client() as client:

        async def transferred() -> bool:
            async with client.transaction(timeout=30) as tx:
                await tx.call(debit.on("bank-a"), account="A", amount=10)
                await tx.call(credit.on("bank-b"), account="B", amount=10)
            return True

        await eventually(transferred, what="a transfer once bank-a registered")
    await eventually(lambda: _settled(db_a, db_b), what="A=90, B=10")
    assert "Traceback" not in bank_a.log_path.read_text()


async def _settled(db_a: str, db_b: str) -> bool:
    return (await accounts(db_a), await accounts(db_b)) == ({"A": (90, 0, 0)}, {"B": (10, 0, 0)})


def test_a_wildcard_listener_says_it_serves_every_interface(cluster: Cluster, processes: list[ChildProcess]) -> None:
    port = free_port()
    proc = start_process([TXC, "registry", "--listen", f"0.0.0.0:{port}", "--insecure"], cluster.log_dir, "wild")
    processes.append(proc)
    proc.wait_serving(f"127.0.0.1:{port}")
    log = proc.log_path.read_text()
    assert f"serving on 0.0.0.0:{port}" in log and f"serving on 127.0.0.1:{port}" not in log, log


async def test_a_transaction_resolved_both_ways_is_resolved_mixed_and_shows_no_next_attempt(cluster: Cluster) -> None:
    _, address = cluster.coordinator("--unregistered-bound", "1", "--retry-max", "0.5", "--phase2-timeout", "1")
    gid = "two-ways"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = coordinator_pb2_grpc.CoordinatorStub(channel)
        for branch in ("1", "2"):
            request = pb.RegisterBranchRequest(
                gid=gid, branch_id=branch, service=f"nobody-{branch}", action="debit", payload_json=b"{}"
            )
            await stub.RegisterBranch(request, timeout=30)
        await stub.Commit(pb.CommitRequest(gid=gid), timeout=30)

    async def failed() -> bool:
        return await tx_state(cluster.store, gid) == "COMMIT_FAILED"

    await eventually(failed, timeout=60, what="COMMIT_FAILED (nobody serves its branches)")
    async with cluster.client(address) as admin:
        shown = await admin.query(gid)
        assert shown.transaction.next_attempt_at == 0
        assert [b.next_attempt_at for b in shown.branches] == [0, 0]
        plain = await asyncio.to_thread(txc, "tx", "show", gid, "--coordinator", address)
        assert "next attempt: -" in plain.stdout, plain.stdout
        assert await admin.resolve(gid, "1", "confirmed") == "COMMIT_FAILED"
        assert await admin.resolve(gid, "2", "cancelled") == "RESOLVED_MIXED"
        assert [t.gid for t in (await admin.list("RESOLVED_MIXED")).transactions] == [gid]
    events = await query(cluster.store, "SELECT event, detail FROM txc_event WHERE gid = $1", gid)
    assert any(e["event"] == "resolved_mixed" and "both ways" in e["detail"] for e in events)


def test_bad_command_line_values_are_named() -> None:
    runner = CliRunner()  # in-process: these fail before any connection
    limit = runner.invoke(app, ["tx", "list", "--limit", "0"])
    assert limit.exit_code == 2 and "--limit" in limit.output, limit.output
    timeout = runner.invoke(app, ["call", "bank-a", "debit", "--timeout", "-1"])
    assert timeout.exit_code == 2 and "--timeout" in timeout.output and "no endpoints" not in timeout.output
    registry = runner.invoke(app, ["call", "bank-a", "debit", "--registry", "nonsense"])
    assert registry.exit_code == 2 and "--registry" in registry.output, registry.output
    assert "no endpoints" not in registry.output and "Traceback" not in registry.output
