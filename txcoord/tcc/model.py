"""TCC's records: branches, the phase-2 decision, the transaction row with its branches, and a proxy's XA outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from txcoord.model import TxState


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


@dataclass(frozen=True)
class Decision:
    """What a decision recorded: the phase 2 it drives and the branches to reach. A commit the store refused
    (a TCC branch without a try receipt) is a rollback: ``op`` CANCEL, ``reason`` saying which branch."""

    op: Phase2
    reason: str
    branches: list[Branch]


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
