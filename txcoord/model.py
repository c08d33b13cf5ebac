"""The global transaction model: states, the transitions between them, and the records the store keeps."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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


class BranchState(enum.StrEnum):
    REGISTERED = "REGISTERED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class BranchKind(enum.StrEnum):
    """What a branch is: a TCC action of a participant, or an XA branch a proxy prepared on a backend (its
    phase 2 is XA COMMIT / XA ROLLBACK, delivered to the proxy's service exactly like a TCC confirm / cancel)."""

    TCC = "TCC"
    XA = "XA"


class Phase2(enum.StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"

    @property
    def branch_done_state(self) -> BranchState:
        return BranchState.CONFIRMED if self is Phase2.CONFIRM else BranchState.CANCELLED

    @property
    def final_state(self) -> TxState:
        return TxState.COMMITTED if self is Phase2.CONFIRM else TxState.ROLLED_BACK

    @property
    def failed_state(self) -> TxState:
        return TxState.COMMIT_FAILED if self is Phase2.CONFIRM else TxState.ROLLBACK_FAILED


def phase2_of(state: TxState) -> Phase2:
    """Which phase-2 operation a decided transaction needs."""
    if state in (TxState.COMMITTING, TxState.COMMITTED, TxState.COMMIT_FAILED):
        return Phase2.CONFIRM
    if state in (TxState.ROLLING_BACK, TxState.ROLLED_BACK, TxState.ROLLBACK_FAILED):
        return Phase2.CANCEL
    raise ValueError(f"a transaction in {state} has no phase-2 decision yet")


@dataclass(frozen=True)
class Retry:
    """Phase-2 retry policy: capped exponential backoff; ``max_attempts`` 0 means retry forever."""

    initial: float = 0.1
    maximum: float = 30.0
    factor: float = 2.0
    max_attempts: int = 0
    # a branch whose service has no endpoint (or no such action) for this long is marked for a person
    unregistered_bound: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based)."""
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** min(failures - 1, 64)))

    def exhausted(self, failures: int) -> bool:
        return self.max_attempts > 0 and failures >= self.max_attempts


@dataclass
class Branch:
    gid: str
    branch_id: str
    service: str
    action: str
    payload: Any
    state: BranchState = BranchState.REGISTERED
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    kind: str = "TCC"  # BranchKind value

    @property
    def done(self) -> bool:
        return self.state is not BranchState.REGISTERED


@dataclass
class Transaction:
    gid: str
    state: TxState
    timeout_s: float
    deadline: datetime | None = None
    reason: str | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    decided_at: datetime | None = None
    finished_at: datetime | None = None
    branches: list[Branch] = field(default_factory=list)
    branch_count: int = 0
    kind: str = "TCC"  # SAGA, or XA (given by its first branch, see BranchKind)
    trace_id: str | None = None  # the trace of the caller that decided it, when it traced
    initiator: str | None = None  # the identity that began it (None: begun with security off)


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


@dataclass(frozen=True, slots=True)
class XaOutcome:
    """A proxy's finished multi-backend XA transaction, as its batched report records it (see txcoord.xa_reports):
    decided inside one of its backends, so the coordinator only keeps the record (terminal from the start)."""

    gid: str
    committed: bool
    service: str
    decider: str
    branches: tuple[tuple[str, str, str], ...]  # (backend, gtrid, bqual) of each written branch
    reason: str = ""
    started_at: float = 0.0  # unix seconds; 0: unknown


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
