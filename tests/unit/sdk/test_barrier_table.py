"""The barrier's decision table (sdk.barrier.decide), row by row as documented in its docstring."""

from __future__ import annotations

import pytest

from sdk.barrier import BarrierError, BarrierOutcome, decide

A, D, E, R = BarrierOutcome.APPLIED, BarrierOutcome.DUPLICATE, BarrierOutcome.EMPTY_CANCEL, BarrierOutcome.REFUSED
APPLIED_TRY = {"try": "try"}
BLOCKED_TRY = {"try": "blocked"}

TABLE = [
    ("try", {}, A, (("try", "try"),)),
    ("try", APPLIED_TRY, D, ()),
    ("try", BLOCKED_TRY, R, ()),
    ("try", {"try": "cancel"}, R, ()),  # rows written before "blocked" existed
    ("confirm", {**APPLIED_TRY, "confirm": "confirm"}, D, ()),
    ("confirm", {}, R, (("try", "blocked"),)),
    ("confirm", BLOCKED_TRY, R, ()),
    ("confirm", {**BLOCKED_TRY, "cancel": "cancel"}, R, ()),
    ("confirm", {**APPLIED_TRY, "cancel": "cancel"}, R, ()),
    ("confirm", APPLIED_TRY, A, (("confirm", "confirm"),)),
    ("cancel", {**APPLIED_TRY, "cancel": "cancel"}, D, ()),
    ("cancel", {**APPLIED_TRY, "confirm": "confirm"}, R, ()),
    ("cancel", {}, E, (("try", "blocked"), ("cancel", "cancel"))),
    ("cancel", BLOCKED_TRY, E, (("cancel", "cancel"),)),
    ("cancel", APPLIED_TRY, A, (("cancel", "cancel"),)),
]


@pytest.mark.parametrize(("op", "rows", "outcome", "writes"), TABLE)
def test_decision_table(op: str, rows: dict[str, str], outcome: BarrierOutcome, writes: tuple[object, ...]) -> None:
    decision = decide(op, rows)
    assert decision.outcome is outcome
    assert decision.writes == writes
    assert decision.runs_work == (outcome is A)
    assert bool(decision.why) == (outcome is R)


def test_unknown_op_is_an_error() -> None:
    with pytest.raises(BarrierError, match="barrier op"):
        decide("commit", {})
