"""Issue #7's edges through real processes: no money spent without a try, nothing stuck forever by a typo.

Each test ends with balances unchanged and every transaction terminal, or explicitly marked for a person
(COMMIT_FAILED / ROLLBACK_FAILED with a ``needs_person`` event), within seconds."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import grpc
import pytest

from demo.bank import debit
from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc
from sdk.errors import NoEndpoints, RpcError
from sdk.registry import RegistryClient
from sdk.tcc import TccContext, tcc
from sdk.tcc_wire import envelope
from tests.integration.coordinator.cluster import Cluster, accounts, audit, query, tx_state
from tests.support import free_port
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


@tcc(service="no-such-service")
async def ghost(ctx: TccContext, account: str) -> None:
    """A try whose service nobody serves."""


async def _state_is(store: str, gid: str, state: str) -> bool:
    return await tx_state(store, gid) == state


async def _needs_person(store: str, gid: str) -> list[str]:
    rows = await query(store, "SELECT detail FROM txc_event WHERE gid = $1 AND event = 'needs_person'", gid)
    return [r["detail"] for r in rows]


async def _raw_commit(address: str, gid: str, service: str, action: str, payload: dict[str, object]) -> None:
    """RegisterBranch + Commit straight over gRPC, with no try ever run."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = coordinator_pb2_grpc.CoordinatorStub(channel)
        await stub.RegisterBranch(
            pb.RegisterBranchRequest(
                gid=gid, branch_id="1", service=service, action=action, payload_json=json.dumps(payload).encode()
            ),
            timeout=30,
        )
        await stub.Commit(pb.CommitRequest(gid=gid), timeout=30)


async def test_a_commit_without_a_try_spends_nothing_and_rolls_back_instead(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    db_a = await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    # another transaction's reservation on the same account: a confirm without its own try must not spend it
    async with cluster.client() as client:
        other = client.transaction(timeout=60)
        await other.call(debit.on("bank-a"), account="A", amount=10)
        await _raw_commit(address, "raw-no-try", "bank-a", "debit", {"account": "A", "amount": 10})
        # no try applied, nothing was confirmed: the commit becomes a rollback, not an alert for a person
        await eventually(lambda: _state_is(cluster.store, "raw-no-try", "ROLLED_BACK"), what="ROLLED_BACK")
        assert await _needs_person(cluster.store, "raw-no-try") == []
        assert await accounts(db_a) == {"A": (90, 10, 0)}  # the other reservation is intact
        await other.rollback("test done")
    await eventually(lambda: _state_is(cluster.store, other.gid, "ROLLED_BACK"), what="ROLLED_BACK")
    assert await accounts(db_a) == {"A": (100, 0, 0)}


async def test_a_confirm_sent_to_the_participant_after_its_cancel_is_refused(cluster: Cluster, new_db: NewDb) -> None:
    cluster.coordinator()
    db_a = await new_db()
    bank = cluster.bank("bank-a", db_a, "A=100")
    async with cluster.client() as client:
        tx = client.transaction(timeout=60)
        await tx.call(debit.on("bank-a"), account="A", amount=10)
        await tx.rollback("test")
        await eventually(lambda: _state_is(cluster.store, tx.gid, "ROLLED_BACK"), what="ROLLED_BACK")
        body = envelope(tx.gid, "1", {"account": "A", "amount": 10})
        with pytest.raises(RpcError) as refused:
            await client.pool.invoke_json(bank.listen, "bank-a", "debit.confirm", body, timeout=30)  # type: ignore[attr-defined]
    assert refused.value.code is grpc.StatusCode.ABORTED and "refused" in refused.value.details
    assert await accounts(db_a) == {"A": (100, 0, 0)}


async def test_a_try_on_a_service_nobody_serves_fails_fast_and_rolls_back_after_the_bound(
    cluster: Cluster, new_db: NewDb
) -> None:
    """The try fails at once (NoEndpoints); its branch is listed untried, so once its service has stayed without
    an endpoint for ``--unregistered-bound`` its cancel counts as done: ROLLED_BACK, not marked for a person."""
    cluster.coordinator("--unregistered-bound", "1", "--retry-max", "0.5")
    async with cluster.client() as client:
        tx = client.transaction(timeout=600)  # the transaction's timeout is not what bounds the failure
        with pytest.raises(NoEndpoints):
            async with tx:
                await tx.call(ghost, account="A")
    await eventually(lambda: _state_is(cluster.store, tx.gid, "ROLLED_BACK"), timeout=30, what="ROLLED_BACK")
    rows = await query(cluster.store, "SELECT event, detail FROM txc_event WHERE gid = $1", tx.gid)
    skipped = [r["detail"] for r in rows if r["event"] == "cancel_skipped"]
    assert len(skipped) == 1 and "no endpoint for" in skipped[0], skipped
    assert await _needs_person(cluster.store, tx.gid) == []
    branch = await query(cluster.store, "SELECT state, attempts FROM txc_branch WHERE gid = $1", tx.gid)
    assert [(b["state"], b["attempts"] > 0) for b in branch] == [("CANCELLED", True)]  # its cancel was tried first


async def test_what_the_owner_listed_untried_survives_a_coordinator_restart(cluster: Cluster, new_db: NewDb) -> None:
    """The rollback's list of untried branches is in the timeline (``listed_untried``), so the coordinator that
    resumes the rollback after a crash still counts an untried branch done once its service has had no endpoint
    for the bound, instead of marking it for a person."""
    port = free_port()
    first, _ = cluster.coordinator("--unregistered-bound", "3600", port=port)  # never skips before the crash
    async with cluster.client() as client:
        tx = client.transaction(timeout=600)
        with pytest.raises(NoEndpoints):
            async with tx:
                await tx.call(ghost, account="A")
    events = await query(cluster.store, "SELECT branch_id, event FROM txc_event WHERE gid = $1", tx.gid)
    assert ("1", "listed_untried") in [(e["branch_id"], e["event"]) for e in events]
    first.kill()
    assert await tx_state(cluster.store, tx.gid) == "ROLLING_BACK"
    cluster.coordinator("--unregistered-bound", "1", "--retry-max", "0.5", port=port)  # same node: reclaims at once
    await eventually(lambda: _state_is(cluster.store, tx.gid, "ROLLED_BACK"), timeout=60, what="ROLLED_BACK")
    events = await query(cluster.store, "SELECT event FROM txc_event WHERE gid = $1", tx.gid)
    assert "cancel_skipped" in [e["event"] for e in events]
    assert await _needs_person(cluster.store, tx.gid) == []


async def test_an_untried_branch_whose_participant_is_back_within_the_bound_gets_its_cancel(
    cluster: Cluster, new_db: NewDb
) -> None:
    """Its owner lists a branch untried, but the try had applied and the participant is mid-restart (its lease
    lapsed): the cancel is not skipped for "no endpoint right now". It is retried, reaches the participant once
    it is back, and the reservation is given back."""
    cluster.coordinator("--retry-max", "0.5")  # the default bound (60 s): far longer than the restart
    db_a = await new_db()
    bank = cluster.bank("bank-a", db_a, "A=100")
    registry = RegistryClient(cluster.registry)
    try:
        async with cluster.client() as client:
            tx = client.transaction(timeout=600)
            await tx.call(debit.on("bank-a"), account="A", amount=10)
            assert await accounts(db_a) == {"A": (90, 10, 0)}
            bank.kill()

            async def lapsed() -> bool:
                return not await registry.resolve("bank-a")

            await eventually(lapsed, what="bank-a's lease to lapse")
            assert await client.rollback(tx.gid, "owner says untried", untried=["1"]) == "ROLLING_BACK"

            async def cancel_tried() -> bool:
                rows = await query(cluster.store, "SELECT attempts FROM txc_branch WHERE gid = $1", tx.gid)
                return rows[0]["attempts"] >= 2

            await eventually(cancel_tried, what="the cancel retried while bank-a is away")
            assert await tx_state(cluster.store, tx.gid) == "ROLLING_BACK"
            assert await accounts(db_a) == {"A": (90, 10, 0)}  # still frozen: nobody has cancelled it yet
            cluster.bank("bank-a", db_a)  # back, within the bound
            await eventually(lambda: _state_is(cluster.store, tx.gid, "ROLLED_BACK"), timeout=60, what="ROLLED_BACK")
    finally:
        await registry.close(deregister=False)
    assert await accounts(db_a) == {"A": (100, 0, 0)}
    assert await audit(db_a, tx.gid) == [(tx.gid, "1", "try", "applied"), (tx.gid, "1", "cancel", "applied")]
    rows = await query(cluster.store, "SELECT event FROM txc_event WHERE gid = $1", tx.gid)
    assert "cancel_skipped" not in {r["event"] for r in rows}


@pytest.mark.parametrize(("service", "action"), [("no-such-service", "debit"), ("bank-a", "no_such_action")])
async def test_a_committed_branch_nobody_can_serve_is_marked_for_a_person(
    cluster: Cluster, new_db: NewDb, service: str, action: str
) -> None:
    _, address = cluster.coordinator("--unregistered-bound", "1", "--retry-max", "0.5")
    db_a = await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    gid = f"raw-{service}-{action}"
    await _raw_commit(address, gid, service, action, {"account": "A", "amount": 1})
    await eventually(lambda: _state_is(cluster.store, gid, "COMMIT_FAILED"), timeout=60, what="COMMIT_FAILED")
    assert any("unreachable" in d for d in await _needs_person(cluster.store, gid))
    assert await accounts(db_a) == {"A": (100, 0, 0)}
