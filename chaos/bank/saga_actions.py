"""The chaos bank's saga steps, served beside its TCC actions by the same participant and barrier:
``withdraw`` (undone by ``undo_withdraw``) and ``deposit`` (undone by ``undo_deposit``), each one guarded
UPDATE of ``bank_account`` in the barrier's local transaction, for accounts in PostgreSQL or MariaDB.

The bank-saga workload's transfer is ``debit`` (``withdraw`` at the source) then ``credit`` (``deposit`` at the
destination), with backward recovery. ``withdraw`` refuses to overdraw (a business refusal: the saga is
compensated); ``deposit`` refuses an account the bank does not hold (the closed account the workload sends
some transfers to), so the applied debit is compensated for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.bank import InsufficientFunds, UnknownAccount
from sdk.saga.step import RetryLater, SagaContext, SagaStep, saga_step
from txcoord.sql_queries import load_queries

Q = load_queries(Path(__file__).with_name("saga_bank.sql"))
#: test-only: ``1`` in a participant's environment makes ``undo_withdraw`` a no-op (the barrier still records
#: the compensation), so tests/integration/chaos can show the bank-saga checkers catch a broken compensation
BROKEN_COMPENSATION_ENV = "TXC_CHAOS_TEST_BROKEN_COMPENSATION"


async def _pg(conn: Any, statement: str, account: str, amount: int) -> int:
    status: str = await conn.execute(Q[f"pg_{statement}"], account, amount)
    return int(status.rsplit(" ", 1)[-1])


async def _mysql(conn: Any, statement: str, account: str, amount: int) -> int:
    async with conn.cursor() as cur:
        return int(await cur.execute(Q[f"mysql_{statement}"], {"account": account, "amount": amount}))


def saga_steps(dialect: str, *, broken_compensation: bool = False) -> list[SagaStep[Any, Any]]:
    """The bank's saga steps over ``dialect`` (``pg`` or ``mysql``: which connection the barrier gives)."""
    run = _pg if dialect == "pg" else _mysql

    @saga_step
    async def withdraw(ctx: SagaContext, account: str, amount: int) -> dict[str, int]:
        """Take ``amount`` from ``account``; refused (the saga compensates) when the balance is short."""
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        if await run(ctx.conn, "withdraw", account, amount) != 1:
            raise InsufficientFunds(account, amount)
        return {"withdrawn": amount}

    @withdraw.compensation
    async def undo_withdraw(ctx: SagaContext, account: str, amount: int) -> None:
        if broken_compensation:
            return  # the test-only broken build: the money taken is never given back
        await run(ctx.conn, "deposit", account, amount)

    @saga_step
    async def deposit(ctx: SagaContext, account: str, amount: int) -> dict[str, int]:
        """Add ``amount`` to ``account``; refused when this bank holds no such account."""
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        if await run(ctx.conn, "deposit", account, amount) != 1:
            raise UnknownAccount(account)
        return {"deposited": amount}

    @deposit.compensation
    async def undo_deposit(ctx: SagaContext, account: str, amount: int) -> None:
        # A saga has no isolation: the deposit may be spent already. Never overdraw the account (the balance
        # stays >= 0); the coordinator retries a compensation until it succeeds, i.e. until the money is back.
        if await run(ctx.conn, "withdraw", account, amount) != 1:
            raise RetryLater(f"account {account} holds less than the {amount} to take back; retry later")

    return [withdraw, deposit]
