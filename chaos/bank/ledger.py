"""What the bank workloads' checkers share: the banks' own tables read once after the run (directly, not
through the fault links), and the checks every bank workload makes over them — money conserved, no negative
balance, balances equal to the opening ones plus what took effect, and the client's view of each transfer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.bank.participant_db import balances, barrier_reasons
from chaos.model import Check, ParticipantSpec

if TYPE_CHECKING:
    from chaos.system import System

Account = tuple[str, str]  # (service, account id)


@dataclass
class Ledger:
    opening: dict[Account, int]
    balances: dict[Account, dict[str, int]]  # balance, frozen, incoming
    barrier: dict[str, dict[tuple[str, str, str], str]]  # service -> {(gid, branch, op): reason}

    def total_opening(self) -> int:
        return sum(self.opening.values())

    def total_now(self) -> int:
        return sum(v["balance"] for v in self.balances.values())


async def read_ledger(system: System, specs: list[ParticipantSpec]) -> Ledger:
    ledger = Ledger({(s.service, a): v for s in specs for a, v in s.accounts.items()}, {}, {})
    for spec in specs:
        ledger.barrier[spec.service] = await barrier_reasons(system, spec)
        for account, values in (await balances(system, spec)).items():
            ledger.balances[(spec.service, account)] = values
    return ledger


def conserved_check(ledger: Ledger) -> Check:
    total_open, total_now = ledger.total_opening(), ledger.total_now()
    return Check("money conserved", total_now == total_open, f"opening total {total_open}, now {total_now}")


def negative_check(ledger: Ledger) -> Check:
    negative = [{"account": list(k), **v} for k, v in ledger.balances.items() if min(v.values()) < 0]
    return Check("no negative balance", not negative, f"{len(negative)} accounts", negative)


def balances_check(ledger: Ledger, expected: dict[Account, int], name: str) -> Check:
    """``expected``: opening balances plus what the workload says took effect."""
    actual = {k: v["balance"] for k, v in ledger.balances.items()}
    mismatch = [
        {"account": list(k), "expected": expected.get(k), "actual": actual.get(k)}
        for k in sorted(set(expected) | set(actual))
        if expected.get(k) != actual.get(k)
    ]
    return Check(name, not mismatch, f"{len(mismatch)} accounts differ", mismatch)


def client_view_problem(outcome: str, done: bool, effects: list[bool]) -> str | None:
    """Why what the client saw disagrees with the banks, or None. ``done``: the store says the transfer
    completed (committed, succeeded); ``effects``: which of its halves are in the balances."""
    if outcome == "ok" and not (done and all(effects)):
        return "the client saw it commit; it is not in the balances"
    if outcome == "failed" and any(effects):
        return "the client saw it fail; it is (partly) in the balances"
    if outcome == "unknown" and any(effects) and not all(effects):
        return "half applied"
    return None


def client_view_check(problems: list[dict[str, Any]]) -> Check:
    return Check(
        "client-observed outcomes agree with the balances", not problems, f"{len(problems)} transactions", problems
    )
