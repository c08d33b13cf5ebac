"""``bank-saga``: the saga counterpart of ``bank-tcc``. The same three bank participants (two PostgreSQL, one
MariaDB with the sdk's MySQL barrier) serve saga steps beside their TCC actions; each transfer is one saga of
two steps, ``debit`` (withdraw at the source) then ``credit`` (deposit at the destination), with backward
recovery, started with ``wait`` and a client-chosen gid.

A saga's steps are fixed ``service.action`` names, so there is one definition per (source bank, destination
bank) pair, all registered before the load starts. A seeded fraction of transfers is meant to be compensated:
some ask for more than any account holds (the debit is refused), some go to an account no bank holds (the
credit is refused after the debit applied, so the debit is undone for real).

Invariants are read from the banks' own tables (balances, barrier rows), never from the coordinator's word;
the coordinator's store only says which sagas ended SUCCEEDED and which COMPENSATED."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc

from chaos.bank.ledger import (
    Ledger,
    balances_check,
    client_view_check,
    client_view_problem,
    conserved_check,
    negative_check,
    read_ledger,
)
from chaos.history import History, Op
from chaos.model import Check, OpResult, ParticipantSpec
from chaos.registry import workload
from chaos.system import System
from chaos.workloads.bank_tcc import OP_DEADLINE, BankTcc, store_states
from sdk.coordinator_client import CoordinatorClient, new_gid
from sdk.errors import RpcError

TOO_LARGE = 0.06  # fraction of transfers asking more than any account can hold: refused at the debit
TO_CLOSED = 0.06  # fraction sent to an account no bank holds: refused at the credit, the debit compensated
HUGE = 10**7
CLOSED = "closed"
SAGA_TIMEOUT = "10s"  # past it a saga is compensated; well inside OP_DEADLINE, so most clients see the end
REFUSED_START = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)  # no instance was created

DEFINITION = """\
name: {name}
version: 1
description: Move money from an account of {src} to an account of {dst}; the debit is undone if the credit fails.
timeout: {timeout}
recovery: backward
input:
  type: object
  required: [from, to, amount]
  properties:
    from: {{type: string}}
    to: {{type: string}}
    amount: {{type: integer, minimum: 1}}
steps:
  - id: debit
    action: {src}.withdraw
    compensate: {src}.undo_withdraw
    input: {{account: "${{input.from}}", amount: "${{input.amount}}"}}
    retry: {{attempts: 3, backoff: 200ms, max_backoff: 1s}}
    timeout: 3s
  - id: credit
    action: {dst}.deposit
    compensate: {dst}.undo_deposit
    input: {{account: "${{input.to}}", amount: "${{input.amount}}"}}
    retry: {{attempts: 3, backoff: 200ms, max_backoff: 1s}}
    timeout: 3s
"""


def saga_name(src: str, dst: str) -> str:
    return f"bank-transfer-{src}-to-{dst}"


def definition(src: str, dst: str) -> str:
    return DEFINITION.format(name=saga_name(src, dst), src=src, dst=dst, timeout=SAGA_TIMEOUT)


@workload("bank-saga")
class BankSaga:
    name = "bank-saga"

    def __init__(self) -> None:
        self.bank = BankTcc()  # the same banks and accounts

    def unavailable(self) -> str | None:
        return None

    def participants(self) -> list[ParticipantSpec]:
        return self.bank.participants()

    async def prepare(self, system: System) -> None:
        """Register the transfer sagas, one per (source bank, destination bank), before the load starts."""
        services = [spec.service for spec in self.participants()]
        addresses = system.caller_addresses
        async with CoordinatorClient(addresses[0], registry=addresses, timeout=10.0) as client:
            for src in services:
                for dst in services:
                    await client.register_saga(definition(src, dst), f"{saga_name(src, dst)}.yaml")

    async def operation(
        self, system: System, client: CoordinatorClient, rng: random.Random
    ) -> tuple[dict[str, Any], OpResult]:
        (src_svc, src), (dst_svc, dst) = rng.sample(self.bank.accounts(), 2)
        amount = rng.randint(1, 30)
        roll = rng.random()
        if roll < TOO_LARGE:
            amount = HUGE
        elif roll < TOO_LARGE + TO_CLOSED:
            dst = CLOSED
        name = saga_name(src_svc, dst_svc)
        gid = new_gid()  # ours: a start whose answer we never saw is still found by it
        args = {"gid": gid, "saga": name, "from": [src_svc, src], "to": [dst_svc, dst], "amount": amount}
        start = client.sagas.start(
            name,
            {"from": src, "to": dst, "amount": amount},
            wait=True,
            wait_timeout=OP_DEADLINE - 2,
            idempotency_key=f"transfer-{gid}",
            gid=gid,
        )
        try:
            result = await asyncio.wait_for(start, OP_DEADLINE)
        except RpcError as exc:
            refused = exc.code in REFUSED_START
            return args, OpResult("failed" if refused else "unknown", f"{type(exc).__name__}: {exc}")
        except (TimeoutError, Exception) as exc:
            return args, OpResult("unknown", f"{type(exc).__name__}: {exc}")
        if result.gid != gid:
            args["answered_gid"] = result.gid
            return args, OpResult("unknown", f"the coordinator answered for another saga {result.gid}")
        if result.state == "SUCCEEDED":
            return args, OpResult("ok")
        if result.state == "COMPENSATED":
            return args, OpResult("failed", result.error[:200])
        return args, OpResult("unknown", f"still {result.state} when the wait ended")

    async def check(self, system: System, history: History) -> list[Check]:
        return judge(await read_ledger(system, self.participants()), await store_states(system), history.ops)


def judge(ledger: Ledger, states: dict[str, str], ops: list[Op]) -> list[Check]:
    """The bank-saga invariants over what the banks' tables hold (``ledger``), the sagas' end states in the
    store and the operations as the clients saw them."""
    expected = dict(ledger.opening)
    fate: list[dict[str, Any]] = []
    client_view: list[dict[str, Any]] = []
    compensated = 0
    for op in ops:
        gid, amount = op.args["gid"], op.args["amount"]
        src, dst = tuple(op.args["from"]), tuple(op.args["to"])
        steps = [_step(ledger, src[0], gid, "debit"), _step(ledger, dst[0], gid, "credit")]
        applied = [s["applied"] for s in steps]
        undone = [s["compensated"] for s in steps]
        effects = [a and not u for a, u in zip(applied, undone, strict=True)]
        state = states.get(gid)
        if state == "SUCCEEDED":
            expected[src] = expected.get(src, 0) - amount
            expected[dst] = expected.get(dst, 0) + amount
        compensated += state == "COMPENSATED" and any(applied)
        where = {"gid": gid, "client_saw": op.outcome, "store_state": state, "applied": applied,
                 "compensated": undone, "from": list(src), "to": list(dst), "amount": amount}  # fmt: skip
        if state == "SUCCEEDED" and not (all(applied) and not any(undone)):
            fate.append({**where, "why": "succeeded, but a step is not applied (or was compensated)"})
        elif state != "SUCCEEDED" and any(effects):
            fate.append({**where, "why": f"{state or 'never recorded'}, but an applied step was not compensated"})
        problem = client_view_problem(op.outcome, state == "SUCCEEDED", effects)
        if problem:
            client_view.append({**where, "why": problem.replace("commit", "succeed")})
    return [
        conserved_check(ledger),
        negative_check(ledger),
        Check(
            "succeeded sagas applied both steps, compensated ones left no effect (barrier tables)",
            not fate,
            f"{len(fate)} sagas; {compensated} compensated after a step applied",
            fate,
        ),
        balances_check(ledger, expected, "balances = opening + the transfers of the SUCCEEDED sagas"),
        client_view_check(client_view),
    ]


def _step(ledger: Ledger, service: str, gid: str, step: str) -> dict[str, bool]:
    """A step's fate from the barrier rows of the bank that served it: its action applied (the try row says
    ``try``, written with the action's change) and its compensation applied (a cancel row after an applied
    try is a compensation that ran; sagas never confirm)."""
    rows = ledger.barrier.get(service, {})
    applied = rows.get((gid, step, "try")) == "try"
    return {"applied": applied, "compensated": applied and (gid, step, "cancel") in rows}
