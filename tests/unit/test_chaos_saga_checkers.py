"""The bank-saga checkers over hand-made bank tables: each invariant passes on a consistent ledger and fails,
naming the saga, on the inconsistency it exists for."""

from __future__ import annotations

from typing import Any

from chaos.bank.ledger import Ledger
from chaos.history import Op
from chaos.model import Check
from chaos.workloads.bank_saga import judge

A, B = ("bank-a", "a0"), ("bank-b", "b0")


def _ledger(a: int, b: int, rows: dict[str, dict[tuple[str, str, str], str]]) -> Ledger:
    balances = {A: {"balance": a, "frozen": 0, "incoming": 0}, B: {"balance": b, "frozen": 0, "incoming": 0}}
    return Ledger({A: 100, B: 100}, balances, {"bank-a": {}, "bank-b": {}, **rows})


def _op(gid: str, outcome: str, amount: int = 10) -> Op:
    return Op(0, 0, 0.0, 1.0, outcome, {"gid": gid, "from": list(A), "to": list(B), "amount": amount})


def _failed(checks: list[Check]) -> dict[str, list[dict[str, Any]]]:
    return {c.name: c.offenders for c in checks if not c.ok}


SUCCEEDED_ROWS = {"bank-a": {("g", "debit", "try"): "try"}, "bank-b": {("g", "credit", "try"): "try"}}
# the debit applied, the credit was refused (no row), the debit compensated
COMPENSATED_ROWS = {"bank-a": {("g", "debit", "try"): "try", ("g", "debit", "cancel"): "cancel"}}


def test_a_consistent_run_passes_every_check() -> None:
    assert _failed(judge(_ledger(90, 110, SUCCEEDED_ROWS), {"g": "SUCCEEDED"}, [_op("g", "ok")])) == {}
    assert _failed(judge(_ledger(100, 100, COMPENSATED_ROWS), {"g": "COMPENSATED"}, [_op("g", "failed")])) == {}
    # a start whose answer was lost and that never reached the store: nothing applied, nothing to say
    assert _failed(judge(_ledger(100, 100, {}), {}, [_op("g", "unknown")])) == {}


def test_a_compensation_that_ran_but_changed_nothing_breaks_the_money_checks() -> None:
    failed = _failed(judge(_ledger(90, 100, COMPENSATED_ROWS), {"g": "COMPENSATED"}, [_op("g", "failed")]))
    assert set(failed) == {"money conserved", "balances = opening + the transfers of the SUCCEEDED sagas"}


def test_a_compensated_saga_with_an_uncompensated_step_is_named() -> None:
    rows = {"bank-a": {("g", "debit", "try"): "try"}}
    failed = _failed(judge(_ledger(90, 110, rows), {"g": "COMPENSATED"}, [_op("g", "failed")]))
    fate = failed["succeeded sagas applied both steps, compensated ones left no effect (barrier tables)"]
    assert fate[0]["gid"] == "g" and "not compensated" in fate[0]["why"]
    assert failed["client-observed outcomes agree with the balances"][0]["gid"] == "g"


def test_a_succeeded_saga_with_a_compensated_step_is_named() -> None:
    rows = {**SUCCEEDED_ROWS, "bank-b": {("g", "credit", "try"): "try", ("g", "credit", "cancel"): "cancel"}}
    failed = _failed(judge(_ledger(90, 100, rows), {"g": "SUCCEEDED"}, [_op("g", "ok")]))
    assert failed["succeeded sagas applied both steps, compensated ones left no effect (barrier tables)"][0]["gid"]
    assert "client-observed outcomes agree with the balances" in failed


def test_a_half_applied_unknown_transfer_is_named() -> None:
    # a try blocked by a compensation that came first (reason 'blocked') is not an applied step
    rows = {"bank-a": {("g", "debit", "try"): "try"}, "bank-b": {("g", "credit", "try"): "blocked"}}
    failed = _failed(judge(_ledger(90, 100, rows), {}, [_op("g", "unknown")]))
    assert failed["client-observed outcomes agree with the balances"][0]["why"] == "half applied"


def test_a_negative_balance_is_named() -> None:
    failed = _failed(judge(_ledger(-10, 210, {}), {}, []))
    assert failed["no negative balance"][0]["account"] == list(A)
