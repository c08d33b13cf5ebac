"""The demo's caller: one money transfer between two banks as a TCC global transaction.

User code: it imports only the public ``sdk`` and the bank's actions."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from demo.bank import credit, debit
from sdk import CoordinatorClient, TryFailed, TxcError

BANKS = {"bank-a": ["A1", "A2", "A3", "A4"], "bank-b": ["B1", "B2", "B3", "B4"]}


@dataclass
class Outcome:
    committed: int = 0
    rolled_back: int = 0
    errors: list[str] = field(default_factory=list)


async def transfer(client: CoordinatorClient, rng: random.Random, index: int, outcome: Outcome) -> None:
    """Moves a random amount between random accounts of the two banks; every fifth asks for too much."""
    source_bank, target_bank = rng.sample(list(BANKS), 2)
    source, target = rng.choice(BANKS[source_bank]), rng.choice(BANKS[target_bank])
    amount = 500 if index % 5 == 4 else rng.randint(5, 40)  # every fifth asks for more than anyone has
    debit_from, credit_to = debit.on(source_bank), credit.on(target_bank)
    try:
        async with client.transaction(timeout=30) as tx:
            # the failing try is sometimes the first branch, sometimes the second
            if index % 2:
                await tx.call(credit_to, account=target, amount=amount)
                await tx.call(debit_from, account=source, amount=amount)
            else:
                await tx.call(debit_from, account=source, amount=amount)
                await tx.call(credit_to, account=target, amount=amount)
        outcome.committed += 1
    except TryFailed:
        outcome.rolled_back += 1
    except TxcError as exc:  # the killed bank: its try could not be reached in time
        outcome.rolled_back += 1
        outcome.errors.append(f"transfer {index}: {exc}")
