"""Two-branch transfers through real coordinator and bank processes on real PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import grpc
import pytest

from demo.bank import credit, debit
from sdk.coordinator_client import RollbackOnly, TryFailed
from sdk.errors import ActionNotFound, RpcError
from sdk.tcc import TccContext, tcc
from tests.integration.coordinator.cluster import Cluster, accounts, audit, tx_state
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


@pytest.fixture
async def banks(cluster: Cluster, new_db: NewDb) -> tuple[str, str]:
    """A coordinator and two banks (bank-a: A=100, bank-b: B=100); returns their databases."""
    cluster.coordinator()
    db_a, db_b = await new_db(), await new_db()
    cluster.bank("bank-a", db_a, "A=100")
    cluster.bank("bank-b", db_b, "B=100")
    return db_a, db_b


async def test_both_branches_confirm_exactly_once(cluster: Cluster, banks: tuple[str, str]) -> None:
    db_a, db_b = banks
    async with cluster.client() as client:
        async with client.transaction(timeout=20) as tx:
            assert await tx.call(debit.on("bank-a"), account="A", amount=30) == {"reserved": 30}
            assert await tx.call(credit.on("bank-b"), account="B", amount=30) == {"incoming": 30}
        assert tx.state in ("COMMITTING", "COMMITTED")
    await eventually(lambda: _is(cluster.store, tx.gid, "COMMITTED"), what="COMMITTED")
    assert await audit(db_a, tx.gid) == [(tx.gid, "1", "try", "applied"), (tx.gid, "1", "confirm", "applied")]
    assert await audit(db_b, tx.gid) == [(tx.gid, "2", "try", "applied"), (tx.gid, "2", "confirm", "applied")]
    assert await accounts(db_a) == {"A": (70, 0, 0)}
    assert await accounts(db_b) == {"B": (130, 0, 0)}


async def test_failing_try_in_branch_2_cancels_branch_1_and_empty_cancels_branch_2(
    cluster: Cluster, banks: tuple[str, str]
) -> None:
    db_a, db_b = banks
    async with cluster.client() as client:
        tx = client.transaction(timeout=20)
        with pytest.raises(TryFailed, match="InsufficientFunds"):
            async with tx:
                await tx.call(credit.on("bank-b"), account="B", amount=500)
                await tx.call(debit.on("bank-a"), account="A", amount=500)  # A has 100: the try fails
    await eventually(lambda: _is(cluster.store, tx.gid, "ROLLED_BACK"), what="ROLLED_BACK")
    assert await audit(db_b, tx.gid) == [(tx.gid, "1", "try", "applied"), (tx.gid, "1", "cancel", "applied")]
    assert await audit(db_a, tx.gid) == [
        (tx.gid, "2", "try", "error: FAILED_PRECONDITION"),
        (tx.gid, "2", "cancel", "empty_cancel"),
    ]
    assert await accounts(db_a) == {"A": (100, 0, 0)}
    assert await accounts(db_b) == {"B": (100, 0, 0)}


async def test_commit_of_an_unknown_gid_is_not_found(cluster: Cluster, banks: tuple[str, str]) -> None:
    async with cluster.client() as client:
        with pytest.raises(RpcError) as caught:
            await client.commit("no-such-gid")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert "no-such-gid" in caught.value.details


async def test_register_on_a_finished_transaction_is_failed_precondition(
    cluster: Cluster, banks: tuple[str, str]
) -> None:
    async with cluster.client() as client:
        async with client.transaction(timeout=20) as tx:
            await tx.call(debit.on("bank-a"), account="A", amount=1)
        await eventually(lambda: _is(cluster.store, tx.gid, "COMMITTED"), what="COMMITTED")
        with pytest.raises(RpcError) as caught:
            await client.register_branch(tx.gid, "9", "bank-a", "debit", {"account": "A", "amount": 1}, tx_timeout=5)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "COMMITTED" in caught.value.details


@tcc(service="bank-a")
async def steal(ctx: TccContext, account: str) -> None:
    """An action no bank serves."""


async def test_an_action_that_is_not_registered_names_service_and_action(
    cluster: Cluster, banks: tuple[str, str]
) -> None:
    async with cluster.client() as client:
        tx = client.transaction(timeout=20)
        with pytest.raises(ActionNotFound) as caught:
            async with tx:
                await tx.call(steal, account="A")
    assert "'bank-a'" in str(caught.value) and "'steal'" in str(caught.value)
    await eventually(lambda: _is(cluster.store, tx.gid, "ROLLED_BACK"), what="ROLLED_BACK")


async def test_arguments_are_checked_against_type_hints_before_anything_is_registered(
    cluster: Cluster, banks: tuple[str, str]
) -> None:
    async with cluster.client() as client:
        tx = client.transaction(timeout=20)
        with pytest.raises(ValueError, match=r"bank-a\.debit: invalid arguments: amount: .*integer"):
            async with tx:
                await tx.call(debit.on("bank-a"), account="A", amount="ten")
    assert await tx_state(cluster.store, tx.gid) is None


async def _is(store: str, gid: str, state: str) -> bool:
    return await tx_state(store, gid) == state


async def test_a_transaction_whose_try_failed_cannot_commit_even_if_the_error_was_caught(
    cluster: Cluster, banks: tuple[str, str]
) -> None:
    db_a, db_b = banks
    async with cluster.client() as client:
        tx = client.transaction(timeout=20)
        with pytest.raises(RollbackOnly, match="cannot commit"):
            async with tx:
                await tx.call(credit.on("bank-b"), account="B", amount=500)
                with contextlib.suppress(TryFailed):
                    await tx.call(debit.on("bank-a"), account="A", amount=500)
    await eventually(lambda: _is(cluster.store, tx.gid, "ROLLED_BACK"), what="ROLLED_BACK")
    assert await accounts(db_a) == {"A": (100, 0, 0)}
    assert await accounts(db_b) == {"B": (100, 0, 0)}
