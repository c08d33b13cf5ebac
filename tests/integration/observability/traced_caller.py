"""A caller process for the trace test: one transfer between bank-a and bank-b; prints its gid."""

from __future__ import annotations

import asyncio
import sys

from demo.bank import credit, debit
from sdk import CoordinatorClient


async def transfer(coordinator: str) -> None:
    async with CoordinatorClient(coordinator, timeout=10.0) as client, client.transaction(timeout=20) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=5)
        await tx.call(credit.on("bank-b"), account="B", amount=5)
    print(tx.gid, flush=True)


if __name__ == "__main__":
    asyncio.run(transfer(sys.argv[1]))
