"""Deliberate mistakes: mypy must report each line carrying an E-marker comment, with the marker's text."""

from __future__ import annotations

from sdk import CoordinatorClient, TccContext, tcc


class Conn:
    async def execute(self, query: str, *args: object) -> str:
        return "UPDATE 1"


@tcc
async def debit(ctx: TccContext[Conn], account: str, amount: int) -> dict[str, int]:
    await ctx.conn.exec("UPDATE ...")  # E: "Conn" has no attribute "exec"
    return {"reserved": amount}


@debit.confirm  # E: Argument 1 to "confirm" of "TccAction" has incompatible type
async def _debit_confirm(ctx: TccContext[Conn], account: str) -> None: ...


@debit.cancel  # E: Argument 1 to "cancel" of "TccAction" has incompatible type
async def _debit_cancel(ctx: TccContext[Conn], account: str, amount: str) -> None: ...


@tcc(service="bank")
async def credit(ctx: TccContext[Conn], account: str, amount: int) -> None: ...


async def not_an_action(ctx: TccContext[Conn], account: str) -> None: ...


async def caller(client: CoordinatorClient) -> None:
    async with client.transaction() as tx:
        await tx.call(debit, acount="A", amount=10)  # E: Unexpected keyword argument "acount"
        await tx.call(debit, account="A", amount="ten")  # E: Argument "amount" to "call" of "GlobalTransaction"
        await tx.call(debit, account="A")  # E: Missing positional argument "amount"
        await tx.call(credit, "A", 1, 2)  # E: Too many arguments
        label: str = await tx.call(debit, account="A", amount=1)  # E: expected "TccAction[[str, int], str]"
        await tx.call(not_an_action, account="A")  # E: Argument 1 to "call" of "GlobalTransaction"
        await tx.call(credit.on(7), account="A", amount=1)  # E: Argument 1 to "on" of "TccAction"
        print(label)
