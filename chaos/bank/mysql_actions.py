"""The bank's ``debit`` and ``credit`` TCC actions for accounts in MariaDB, guarded by the sdk's
``MySqlBarrier`` (same phases as ``demo.bank``, which keeps its accounts in PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk.tcc import TccContext, tcc
from txcoord.sql_queries import load_queries

Q = load_queries(Path(__file__).with_name("mysql_bank.sql"))


async def _update(ctx: TccContext, query: str, account: str, amount: int) -> bool:
    async with ctx.conn.cursor() as cur:
        return bool(await cur.execute(Q[query], {"account": account, "amount": amount}) == 1)


@tcc
async def debit(ctx: TccContext, account: str, amount: int) -> dict[str, Any]:
    """Try: reserve ``amount`` from ``account`` (refused when the balance is short)."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "debit_try", account, amount):
        raise ValueError(f"account {account} cannot pay {amount}: balance too low or unknown account")
    return {"reserved": amount}


@debit.confirm
async def _debit_confirm(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "debit_confirm", account, amount)


@debit.cancel
async def _debit_cancel(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "debit_cancel", account, amount)


@tcc
async def credit(ctx: TccContext, account: str, amount: int) -> dict[str, Any]:
    """Try: announce ``amount`` for ``account``."""
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    if not await _update(ctx, "credit_try", account, amount):
        raise ValueError(f"no account {account!r}")
    return {"incoming": amount}


@credit.confirm
async def _credit_confirm(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "credit_confirm", account, amount)


@credit.cancel
async def _credit_cancel(ctx: TccContext, account: str, amount: int) -> None:
    await _update(ctx, "credit_cancel", account, amount)


async def prepare(pool: Any, accounts: dict[str, int]) -> None:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(Q["schema"])
        await cur.executemany(Q["seed"], list(accounts.items()))
        await conn.commit()
