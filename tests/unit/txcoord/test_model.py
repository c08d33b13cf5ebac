"""Transaction states and the phase-2 retry policy."""

from __future__ import annotations

import pytest

from txcoord.engine.retry import Retry
from txcoord.model import TxState
from txcoord.tcc.model import Phase2, phase2_of


def test_backoff_doubles_from_a_tenth_of_a_second_to_a_cap_of_thirty() -> None:
    retry = Retry()
    assert [retry.delay(n) for n in range(1, 11)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]
    assert retry.delay(1000) == 30.0


def test_retry_forever_by_default_or_up_to_a_limit() -> None:
    assert not Retry().exhausted(10**6)
    assert Retry(max_attempts=3).exhausted(3) and not Retry(max_attempts=3).exhausted(2)


def test_decided_states_map_to_their_phase_2() -> None:
    assert phase2_of(TxState.COMMITTING) is Phase2.CONFIRM
    assert phase2_of(TxState.ROLLING_BACK) is Phase2.CANCEL
    with pytest.raises(ValueError, match="no phase-2 decision"):
        phase2_of(TxState.BEGIN)


def test_terminal_states() -> None:
    assert {s for s in TxState if s.terminal} == {
        TxState.COMMITTED,
        TxState.ROLLED_BACK,
        TxState.COMMIT_FAILED,
        TxState.RESOLVED_MIXED,
        TxState.ROLLBACK_FAILED,
        TxState.SUCCEEDED,  # sagas
        TxState.COMPENSATED,
        TxState.COMPENSATION_FAILED,  # a saga waiting for a person, like ROLLBACK_FAILED
        TxState.FORWARD_FAILED,  # ... going forward, like COMMIT_FAILED
    }
