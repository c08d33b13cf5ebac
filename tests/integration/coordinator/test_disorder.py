"""Phase 2 arriving out of order or twice: the barrier keeps balances right."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from demo.bank import debit
from sdk.coordinator_client import TryFailed
from sdk.rpc import ChannelPool
from sdk.tcc_wire import envelope
from tests.integration.coordinator.cluster import Cluster, accounts, audit, query, tx_state, txc_json
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


async def test_a_cancel_before_its_try_makes_the_late_try_refused_and_balances_untouched(
    cluster: Cluster, new_db: NewDb, tmp_path: Path
) -> None:
    _, address = cluster.coordinator()
    db_a = await new_db()
    gate = tmp_path / "release-tries"
    cluster.bank("bank-a", db_a, "A=100", "--hold-tries-until", str(gate))  # tries wait at the door until the gate
    async with cluster.client() as client:
        tx = client.transaction(timeout=30)
        late_try = asyncio.create_task(tx.call(debit.on("bank-a"), account="A", amount=40))

        async def registered() -> bool:
            rows = await query(cluster.store, "SELECT 1 FROM txc_branch WHERE gid = $1", tx.gid)
            return bool(rows)

        await eventually(registered, what="branch registered")
        # The admin aborts the transaction while its try is still held back: the cancel overtakes the try.
        await asyncio.to_thread(txc_json, "tx", "list", "--coordinator", address)  # the CLI sees it
        assert await tx.rollback("test: cancel first") == "ROLLING_BACK"

        async def rolled_back() -> bool:
            return await tx_state(cluster.store, tx.gid) == "ROLLED_BACK"

        await eventually(rolled_back, what="ROLLED_BACK")
        gate.touch()  # the cancel has overtaken the try: let the try in now
        with pytest.raises(TryFailed, match="refused"):
            await late_try
    assert await audit(db_a, tx.gid) == [
        (tx.gid, "1", "cancel", "empty_cancel"),
        (tx.gid, "1", "try", "error: ABORTED"),
    ]
    assert await accounts(db_a) == {"A": (100, 0, 0)}


async def test_a_confirm_delivered_twice_is_applied_once(cluster: Cluster, new_db: NewDb) -> None:
    cluster.coordinator()
    db_a = await new_db()
    bank = cluster.bank("bank-a", db_a, "A=100")
    async with cluster.client() as client, client.transaction(timeout=30) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=25)

    async def committed() -> bool:
        return await tx_state(cluster.store, tx.gid) == "COMMITTED"

    await eventually(committed, what="COMMITTED")
    assert await accounts(db_a) == {"A": (75, 0, 0)}
    pool = ChannelPool()
    try:  # the coordinator's confirm arrives again (a retry whose first reply was lost)
        body = envelope(tx.gid, "1", {"account": "A", "amount": 25})
        again = await pool.invoke_json(bank.listen, "bank-a", "debit.confirm", body)  # type: ignore[attr-defined]
    finally:
        await pool.close()
    assert again == {"result": None, "barrier": "duplicate"}
    assert await accounts(db_a) == {"A": (75, 0, 0)}
    assert [(op, outcome) for _, _, op, outcome in await audit(db_a, tx.gid)] == [
        ("try", "applied"),
        ("confirm", "applied"),
        ("confirm", "duplicate"),
    ]
