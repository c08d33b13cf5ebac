"""What TCC and sagas share of the global transaction model: its states, who acts on it, its timeline, list filters.
TCC's own records (branches, the phase-2 decision) are in ``txcoord.tcc.model``, a saga's in
``txcoord.saga.records``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class TxState(enum.StrEnum):
    BEGIN = "BEGIN"
    COMMITTING = "COMMITTING"
    COMMITTED = "COMMITTED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    COMMIT_FAILED = "COMMIT_FAILED"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    # a person resolved the branches of a *_FAILED transaction, some confirmed and some cancelled: neither
    # committed nor rolled back, and said so
    RESOLVED_MIXED = "RESOLVED_MIXED"
    # sagas (kind SAGA): orchestrated by the coordinator, see txcoord.saga
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    # a compensation no retry can deliver (its service or action is gone): waits for `txc saga resolve/retry`
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    # a forward step no retry can deliver (its service or action is gone): waits for `txc saga resolve/retry`
    FORWARD_FAILED = "FORWARD_FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def deciding_phase2(self) -> bool:
        """A decision is recorded and phase 2 still has work to do."""
        return self in (TxState.COMMITTING, TxState.ROLLING_BACK)


TERMINAL = frozenset(
    {
        TxState.COMMITTED,
        TxState.ROLLED_BACK,
        TxState.COMMIT_FAILED,
        TxState.ROLLBACK_FAILED,
        TxState.RESOLVED_MIXED,
        TxState.SUCCEEDED,
        TxState.COMPENSATED,
        TxState.COMPENSATION_FAILED,
        TxState.FORWARD_FAILED,
    }
)


@dataclass(frozen=True)
class Actor:
    """Who asks for an operation: the caller's identity name, and whether it acts as an admin (which may act
    on anyone's transaction). Operations given no actor (security off, or the coordinator itself) are not
    checked."""

    name: str
    admin: bool = False


@dataclass(frozen=True)
class Event:
    gid: str
    branch_id: str | None
    at: datetime
    event: str
    detail: str | None


@dataclass(frozen=True)
class ListFilter:
    """Which transactions a list shows (every field optional, they combine), and the keyset cursor of its page."""

    state: str | None = None
    mode: str | None = None
    service: str | None = None
    gid_prefix: str | None = None
    older_than_s: float | None = None
    after_gid: str | None = None  # the last gid of the previous page (newest first)

    def prefix_end(self) -> str | None:
        """The first string past every one starting with ``gid_prefix`` in code-point (UTF-8 byte) order."""
        if not self.gid_prefix:
            return None
        last = self.gid_prefix[-1]
        if ord(last) >= 0x10FFFF:
            return self.gid_prefix + "\U0010ffff"
        return self.gid_prefix[:-1] + chr(ord(last) + 1)
