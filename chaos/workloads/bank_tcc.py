"""``bank-tcc``: transfers between accounts held by three participant services (two keep their accounts in
PostgreSQL, one in MariaDB with the sdk's MySQL barrier), each transfer one TCC transaction of a debit branch
and a credit branch. Invariants are read from the participants' own tables (balances and barrier rows), never
from the coordinator's word."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import grpc

from chaos.bank.ledger import (
    balances_check,
    client_view_check,
    client_view_problem,
    conserved_check,
    negative_check,
    read_ledger,
)
from chaos.history import History
from chaos.model import Check, OpResult, ParticipantSpec
from chaos.registry import workload
from chaos.system import TX_TIMEOUT, System
from demo.bank import credit, debit
from sdk.coordinator_client import CoordinatorClient, RollbackOnly, TryFailed
from sdk.errors import RpcError
from sdk.tcc import as_action

OPENING = 1000
ACCOUNTS_PER_BANK = 4
BANKS = (("bank-a", "pg"), ("bank-b", "pg"), ("bank-c", "mysql"))
OP_DEADLINE = 20.0  # an operation still running after this is cut off and counted unknown


@workload("bank-tcc")
class BankTcc:
    name = "bank-tcc"

    def unavailable(self) -> str | None:
        return None

    def participants(self) -> list[ParticipantSpec]:
        return [
            ParticipantSpec(service, db, {f"{service[-1]}{i}": OPENING for i in range(ACCOUNTS_PER_BANK)})
            for service, db in BANKS
        ]

    def accounts(self) -> list[tuple[str, str]]:
        return [(spec.service, account) for spec in self.participants() for account in spec.accounts]

    async def operation(
        self, system: System, client: CoordinatorClient, rng: random.Random
    ) -> tuple[dict[str, Any], OpResult]:
        (src_svc, src), (dst_svc, dst) = rng.sample(self.accounts(), 2)
        amount = rng.randint(1, 30)
        tx = client.transaction(timeout=TX_TIMEOUT)
        args = {"gid": tx.gid, "from": [src_svc, src], "to": [dst_svc, dst], "amount": amount}
        stage = ["try"]

        async def transfer() -> None:
            await tx.call(as_action(debit).on(src_svc), account=src, amount=amount)
            await tx.call(as_action(credit).on(dst_svc), account=dst, amount=amount)
            stage[0] = "commit"
            await tx.commit()

        try:
            await asyncio.wait_for(transfer(), OP_DEADLINE)
            return args, OpResult("ok")
        except (TryFailed, RollbackOnly) as exc:
            return args, OpResult("failed", f"{type(exc).__name__}: {exc}")
        except (TimeoutError, Exception) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if stage[0] == "try":
                # commit was never asked for: the coordinator can only roll it back (now, or at its timeout)
                with contextlib.suppress(TimeoutError, Exception):
                    await asyncio.wait_for(tx.rollback(error[:200]), 5)
                return args, OpResult("failed", error)
            refused = isinstance(exc, RpcError) and exc.code in (
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.ABORTED,
            )
            return args, OpResult("failed" if refused else "unknown", error)

    async def check(self, system: System, history: History) -> list[Check]:
        ledger = await read_ledger(system, self.participants())
        rows = ledger.barrier
        states = await store_states(system)
        expected = dict(ledger.opening)
        branch_fate: list[dict[str, Any]] = []
        client_view: list[dict[str, Any]] = []
        for op in history.ops:
            gid, amount = op.args["gid"], op.args["amount"]
            src, dst = tuple(op.args["from"]), tuple(op.args["to"])
            confirmed = [(gid, "1", "confirm") in rows[src[0]], (gid, "2", "confirm") in rows[dst[0]]]
            cancelled = [(gid, "1", "cancel") in rows[src[0]], (gid, "2", "cancel") in rows[dst[0]]]
            if confirmed[0]:
                expected[src] -= amount
            if confirmed[1]:
                expected[dst] += amount
            state = states.get(gid)
            where = {"gid": gid, "client_saw": op.outcome, "store_state": state, "confirmed": confirmed,
                     "cancelled": cancelled, "from": list(src), "to": list(dst), "amount": amount}  # fmt: skip
            if state == "COMMITTED" and not (all(confirmed) and not any(cancelled)):
                branch_fate.append({**where, "why": "committed, but a branch is not confirmed (or was cancelled)"})
            elif state != "COMMITTED" and any(confirmed):
                branch_fate.append({**where, "why": f"{state or 'never recorded'}, but a branch was confirmed"})
            elif any(c and k for c, k in zip(confirmed, cancelled, strict=True)):
                branch_fate.append({**where, "why": "a branch was both confirmed and cancelled"})
            problem = client_view_problem(op.outcome, state == "COMMITTED", confirmed)
            if problem:
                client_view.append({**where, "why": problem})
        held = [{"account": list(k), **v} for k, v in ledger.balances.items() if v["frozen"] or v["incoming"]]
        return [
            conserved_check(ledger),
            negative_check(ledger),
            Check("no frozen or incoming amount left", not held, f"{len(held)} accounts hold money", held),
            Check(
                "committed branches confirmed, rolled-back ones never (barrier tables)",
                not branch_fate,
                f"{len(branch_fate)} transactions",
                branch_fate,
            ),
            balances_check(
                ledger, expected, "balances = opening + confirmed branches (each confirm applied exactly once)"
            ),
            client_view_check(client_view),
        ]


async def store_states(system: System) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(system.store_url())
    try:
        rows = await conn.fetch("SELECT gid, state FROM txc_transaction")
    finally:
        await conn.close()
    return {r["gid"]: r["state"] for r in rows}
