"""A caller process for crash tests: runs the tries of a transfer, prints the gid, then waits to be killed.

python -m tests.integration.coordinator.caller COORDINATOR TIMEOUT_SECONDS
"""

from __future__ import annotations

import asyncio
import sys

from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient


async def main(address: str, timeout: float) -> None:
    client = CoordinatorClient(address)
    tx = client.transaction(timeout=timeout)
    await tx.call(debit.on("bank-a"), account="A", amount=10)
    await tx.call(credit.on("bank-b"), account="B", amount=10)
    print(f"TRIED {tx.gid}", flush=True)
    await asyncio.Event().wait()  # never commits: the test SIGKILLs this process here


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
