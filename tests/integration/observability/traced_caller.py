"""A caller process for the trace tests: one transfer between bank-a and bank-b, or (``saga``) one saga run to
its end; prints the gid."""

from __future__ import annotations

import asyncio
import sys

from demo.bank import credit, debit
from sdk import CoordinatorClient
from tests.integration.coordinator.sagas import LINEAR


async def transfer(coordinator: str) -> None:
    async with CoordinatorClient(coordinator, timeout=10.0) as client, client.transaction(timeout=20) as tx:
        await tx.call(debit.on("bank-a"), account="A", amount=5)
        await tx.call(credit.on("bank-b"), account="B", amount=5)
    print(tx.gid, flush=True)


async def saga(coordinator: str) -> None:
    async with CoordinatorClient(coordinator, timeout=10.0) as client:
        await client.register_saga(LINEAR)
        result = await client.start_saga("linear", {"user": "ann", "amount": 10}, wait=True, wait_timeout=30)
    print(result.gid, flush=True)


if __name__ == "__main__":
    asyncio.run(saga(sys.argv[1]) if sys.argv[2:] == ["saga"] else transfer(sys.argv[1]))
