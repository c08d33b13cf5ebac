"""Typed calls as a user writes them: mypy must find nothing here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from sdk import CoordinatorClient, TccContext, tcc


class Conn:
    async def execute(self, query: str, *args: object) -> str:
        return "UPDATE 1"


@dataclass
class Receipt:
    reserved: int


@tcc
async def debit(ctx: TccContext[Conn], account: str, amount: int) -> dict[str, int]:
    status = await ctx.conn.execute("UPDATE ...", account, amount)
    assert_type(status, str)
    return {"reserved": amount}


@debit.confirm
async def _debit_confirm(ctx: TccContext[Conn], account: str, amount: int) -> None: ...


@debit.cancel
async def _debit_cancel(ctx: TccContext[Conn], account: str, amount: int) -> None: ...


@tcc(service="bank")
async def hold(ctx: TccContext[Conn], account: str, amount: int = 1) -> Receipt:
    return Receipt(amount)


async def caller(client: CoordinatorClient) -> None:
    async with client.transaction() as tx:
        assert_type(await tx.call(debit.on("bank-a"), account="A", amount=10), dict[str, int])
        assert_type(await tx.call(hold, account="B"), Receipt)
        receipt = await tx.call(hold, "B", 5)
        assert_type(receipt.reserved, int)
