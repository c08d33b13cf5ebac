"""A participant serves only branches the coordinator registered: real coordinator and bank processes sharing
a branch key; forged, unsigned, replayed and foreign-key calls straight to a participant are refused with no
effect, while signed transfers, phase 2 and `txc call --gid` go through."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable

import grpc
import pytest

from demo.bank import credit, debit
from sdk.branch_mac import BranchSigner
from sdk.errors import RpcError
from sdk.rpc import ChannelPool, ClientSecurity
from sdk.saga.wire import action_body
from sdk.tcc_wire import envelope
from tests.integration.coordinator.cluster import TXC, Cluster, accounts, audit, tx_state
from tests.integration.coordinator.sagas import LINEAR, bookings, calls, trip
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
KEY = "branch-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def branch_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process this test starts (coordinator, banks, txc) inherits the shared key."""
    monkeypatch.setenv("TXC_BRANCH_KEY", KEY)


async def _refused(pool: ChannelPool, address: str, action: str, body: object) -> str:
    with pytest.raises(RpcError) as raised:
        await pool.invoke_json(address, "bank-a", action, body, timeout=10)
    assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED, raised.value
    return raised.value.details


def txc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60)


async def test_only_registered_branches_are_served(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    bank_a = cluster.bank("bank-a", db_a, "A=100")
    cluster.bank("bank-b", db_b, "B=0")
    a_address: str = bank_a.listen  # type: ignore[attr-defined]
    pool = ChannelPool(security=ClientSecurity())
    async with cluster.client() as client:
        # Signed end to end: the try carries RegisterBranch's MAC, confirms carry the coordinator's.
        async with client.transaction(timeout=30) as tx:
            await tx.call(debit.on("bank-a"), account="A", amount=10)
            await tx.call(credit.on("bank-b"), account="B", amount=10)

        async def committed() -> bool:  # both confirms: they are delivered in parallel
            return await accounts(db_b) == {"B": (10, 0, 0)} and await accounts(db_a) == {"A": (90, 0, 0)}

        await eventually(committed, what="signed transfer confirmed")

        args = {"account": "A", "amount": 50}
        try:
            # Straight to the participant: unsigned, garbage, another key's signature — each refused.
            assert "unsigned" in await _refused(pool, a_address, "debit", envelope("forged-1", "1", args))
            assert "bad branch signature" in await _refused(
                pool, a_address, "debit", envelope("forged-2", "1", args, "0" * 64)
            )
            foreign = BranchSigner(b"some-other-key-0123456789").sign("forged-3", "1", "bank-a", "debit", args)
            await _refused(pool, a_address, "debit", envelope("forged-3", "1", args, foreign))
            # A confirm "of a try that never ran" and a cancel, forged: refused before the barrier.
            await _refused(pool, a_address, "debit.confirm", envelope("forged-4", "1", args))
            # Batched phase 2 refuses item by item.
            batch = {"items": [{"action": "debit", "op": "confirm", **envelope("forged-5", "1", args)}]}
            reply = await pool.invoke_json(a_address, "bank-a", "txc.phase2", batch, timeout=10)
            assert [r["code"] for r in reply["results"]] == ["PERMISSION_DENIED"]

            # A real branch's try MAC does not stretch: not to other arguments, not to its confirm.
            live = client.transaction(timeout=60)
            await client.begin(live.gid, 60)
            _state, mac = await client.register_signed_branch(live.gid, "1", "bank-a", "debit", args, tx_timeout=60)
            assert mac
            more = {"account": "A", "amount": 90}
            await _refused(pool, a_address, "debit", envelope(live.gid, "1", more, mac))
            await _refused(pool, a_address, "debit.confirm", envelope(live.gid, "1", args, mac))
            assert await accounts(db_a) == {"A": (90, 0, 0)}
            # The genuine try goes through; rolling back cancels it (a signed cancel) and gives the money back.
            applied = await pool.invoke_json(a_address, "bank-a", "debit", envelope(live.gid, "1", args, mac))
            assert applied["barrier"] == "applied"
            assert await accounts(db_a) == {"A": (40, 50, 0)}
            await client.rollback(live.gid, "test")

            async def cancelled() -> bool:
                return await accounts(db_a) == {"A": (90, 0, 0)}

            await eventually(cancelled, what="signed cancel applied")
        finally:
            await pool.close()
        # The signature guard runs before the participant's interceptors (the bank's audit is one) and its
        # barrier: no forged call reached them, while the genuine try and cancel did.
        rows = await audit(db_a)
        assert not [row for row in rows if row[0].startswith("forged-")], rows
        assert {row[2] for row in rows if row[0] == live.gid} >= {"try", "cancel"}, rows

        # `txc call` of a TCC try: refused without --gid (unsigned), served inside a live transaction.
        raw = json.dumps(envelope("cli-forged", "1", {"account": "A", "amount": 5}))
        bare = await asyncio.to_thread(txc, "call", "bank-a", "debit", "--json", raw, "--registry", address)
        assert bare.returncode == 2 and "unsigned" in bare.stderr and "Traceback" not in bare.stderr, bare
        ghost = await asyncio.to_thread(
            txc, "call", "bank-a", "debit", "--gid", "no-such-gid", "--json", '{"account": "A", "amount": 5}',
            "--coordinator", address, "--registry", address,
        )  # fmt: skip
        assert ghost.returncode == 2 and "NOT_FOUND" in ghost.stderr, ghost
        joined = client.transaction(timeout=60)
        await client.begin(joined.gid, 60)
        ok = await asyncio.to_thread(
            txc, "call", "bank-a", "debit", "--gid", joined.gid, "--json", '{"account": "A", "amount": 7}',
            "--coordinator", address, "--registry", address,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        tried = json.loads(ok.stdout)
        assert tried["barrier"] == "applied"
        # its output names the branch and carries its receipt, which the commit passes on
        assert tried["branch_id"].startswith("call-") and tried["receipt"]
        receipts = {tried["branch_id"]: tried["receipt"]}
        assert await client.commit(joined.gid, receipts=receipts) in ("COMMITTING", "COMMITTED")

        async def joined_committed() -> bool:
            return await tx_state(cluster.store, joined.gid) == "COMMITTED"

        await eventually(joined_committed, what="the txc-call branch confirmed by the coordinator")
    assert await accounts(db_a) == {"A": (83, 0, 0)}


async def test_saga_steps_are_signed_and_a_forged_step_is_refused(cluster: Cluster, new_db: NewDb) -> None:
    cluster.coordinator()
    db = await new_db()
    participant = trip(cluster, db)
    async with cluster.client() as client:
        await client.register_saga(LINEAR, "linear.yaml")
        result = await client.start_saga("linear", {"user": "ann", "amount": 50}, wait=True)
    assert result.state == "SUCCEEDED", result  # every step went out signed by the coordinator
    pool = ChannelPool(security=ClientSecurity())
    try:
        with pytest.raises(RpcError) as raised:
            body = action_body("forged-saga", "flight", {"user": "eve", "city": "Lisbon"})
            await pool.invoke_json(participant.listen, "trip-flights", "book", body, timeout=10)  # type: ignore[attr-defined]
        assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED and "unsigned" in raised.value.details
    finally:
        await pool.close()
    assert await bookings(db, "forged-saga") == {}
    # The example's audit is an interceptor, user code: a forged call is refused before any of it runs.
    assert await calls(db, "forged-saga") == []


async def test_processes_mid_rotation_of_the_branch_key_still_transfer(
    cluster: Cluster, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md#rotation, second step, caught half-way: the coordinator still signs with the old key and
    accepts the new one; bank-a already signs its receipts with the new key and accepts the old; bank-b has not
    been touched yet. Every MAC and receipt is understood: nothing is refused, nothing rolls back."""
    old, new = KEY, "rotated-branch-key-0123456789"
    monkeypatch.setenv("TXC_BRANCH_KEY", old)
    monkeypatch.setenv("TXC_BRANCH_KEY_ACCEPT", new)
    cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    monkeypatch.setenv("TXC_BRANCH_KEY", new)
    monkeypatch.setenv("TXC_BRANCH_KEY_ACCEPT", old)
    cluster.bank("bank-a", db_a, "A=100")
    monkeypatch.setenv("TXC_BRANCH_KEY", old)
    monkeypatch.delenv("TXC_BRANCH_KEY_ACCEPT")
    cluster.bank("bank-b", db_b, "B=0")
    async with cluster.client() as client:
        for _ in range(3):
            async with client.transaction(timeout=30) as tx:
                await tx.call(debit.on("bank-a"), account="A", amount=10)
                await tx.call(credit.on("bank-b"), account="B", amount=10)

        async def committed() -> bool:
            return await accounts(db_a) == {"A": (70, 0, 0)} and await accounts(db_b) == {"B": (30, 0, 0)}

        await eventually(committed, what="three transfers confirmed across processes on different keys")
