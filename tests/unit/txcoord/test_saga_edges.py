"""What a participant sends back is outside input: a step output or an error text the store cannot keep is
refused with a message naming the step, never written (a refused write used to stop the saga and, shared by a
batch, the sagas beside it)."""

from __future__ import annotations

import grpc
import pytest

from sdk.errors import NoEndpoints, describe, rpc_error
from sdk.saga import EvaluationError
from txcoord import validation
from txcoord.errors import InvalidArgument
from txcoord.saga.failures import undelivered


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"booking": "a\x00b"}, "NUL"),
        ({"k\x00": 1}, "NUL"),
        (["\ud800"], "lone surrogate"),
        ({"x": float("nan")}, "finite"),
    ],
)
def test_an_output_the_store_cannot_keep_is_refused_naming_the_step(output: object, problem: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validation.json_value(output, "the output of step flight (trip-flights.book)")
    assert "step flight" in str(refused.value) and problem in str(refused.value)


def test_a_storable_output_passes_unchanged() -> None:
    output = {"booking_id": "F-1", "legs": [1, 2.5, None, True], "note": "é"}
    assert validation.json_value(output, "output") is output


def test_an_error_text_is_stored_without_nul_or_lone_surrogates() -> None:
    text = describe(RuntimeError("refused\x00 by \ud800 the bank" + "x" * 1000))
    assert "\x00" not in text and len(text) == 500
    text.encode("utf-8")  # no lone surrogate left


def test_only_a_call_that_cannot_have_reached_a_participant_counts_as_undelivered() -> None:
    assert undelivered(NoEndpoints("paymnt"))
    assert undelivered(rpc_error(grpc.StatusCode.UNIMPLEMENTED, "no action 'pya'"))
    assert undelivered(EvaluationError("steps.nope: unknown step"))
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION):
        assert not undelivered(rpc_error(code, "may have applied")), code  # a lost reply may hide an applied action
