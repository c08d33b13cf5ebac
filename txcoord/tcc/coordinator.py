"""The coordinator's operations: begin, register a branch, commit, roll back, query, and the admin ones.

Write-ahead: a branch is durable before ``register_branch`` returns (the caller invokes the try only then),
and a decision is durable before phase 2 starts; ``commit`` returns right after the decision."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sdk.failpoints import Failpoints
from txcoord import validation
from txcoord.errors import (
    BranchConflict,
    InvalidArgument,
    InvalidState,
    NotPermitted,
    TransactionNotFound,
    TransactionTimedOut,
)
from txcoord.model import Actor, Event, ListFilter, TxState
from txcoord.tcc.model import BranchKind, BranchState, Phase2, Transaction, phase2_of
from txcoord.tcc.phase2 import UNTRIED_EVENT, Phase2Driver
from txcoord.tcc.recovery import TccRecovery
from txcoord.tcc.store_protocol import TccStore

log = logging.getLogger(__name__)
# every registration checks its kind: a tuple once, not the Enum's __members__ mapping built per call
BRANCH_KINDS = tuple(BranchKind.__members__)

DEFAULT_TIMEOUT = 60.0
# TXCOORD_FAILPOINTS=confirm_without_decision, TEST ONLY, never in production: a deliberately broken build for
# the chaos harness's own test (tests/integration/chaos), which must show its checkers catch a coordinator that
# confirms without first recording the commit decision.
FAILPOINTS = Failpoints("TXCOORD_FAILPOINTS")
MAX_TIMEOUT = 24 * 3600.0
MODES = ("TCC", "SAGA", "XA")  # what a transaction is: TCC branches, a saga, or a proxy's XA branches


def _validate_gid(gid: str) -> None:
    validation.gid(gid)


def _not_yours(actor: Actor | None, initiator: str | None) -> str:
    who = actor.name if actor else "anonymous"
    return f"it belongs to the identity that began it ({initiator or 'unknown'}), not to {who}"


def _check_owner(tx: Transaction, actor: Actor | None, operation: str) -> None:
    """Only the identity that began a transaction (or an admin) may act on it; no actor: not checked."""
    if actor is None or actor.admin or tx.initiator == actor.name:
        return
    raise NotPermitted(f"{operation} {tx.gid!r}: {_not_yours(actor, tx.initiator)}")


def _by(actor: str, default: str) -> str:
    """Who did an admin action, as the timeline says it: the caller's own words, or the command's name."""
    return validation.text(actor, "actor", limit=200) or default


@dataclass(frozen=True)
class CoordinatorSettings:
    default_timeout: float = DEFAULT_TIMEOUT
    lease: float = 10.0


class Coordinator:
    def __init__(self, store: TccStore, driver: Phase2Driver, recovery: TccRecovery, settings: CoordinatorSettings):
        self.store = store
        self.driver = driver
        self.recovery = recovery
        self.settings = settings

    @property
    def node_id(self) -> str:
        return self.driver.owner

    def _timeout(self, timeout_s: float) -> float:
        if timeout_s == 0:
            return self.settings.default_timeout
        if not 0 < timeout_s <= MAX_TIMEOUT:
            raise InvalidArgument(f"timeout_seconds: must be in (0, {MAX_TIMEOUT:.0f}], got {timeout_s}")
        return timeout_s

    async def begin(self, gid: str, timeout_s: float = 0, actor: Actor | None = None) -> TxState:
        _validate_gid(gid)
        await self.store.begin(gid, self._timeout(timeout_s), actor)
        tx = await self.store.get(gid)
        assert tx is not None
        _check_owner(tx, actor, "begin")
        return tx.state

    async def register_branch(
        self,
        gid: str,
        branch_id: str,
        service: str,
        action: str,
        payload: str | bytes,
        timeout_s: float = 0,
        kind: str = "",
        actor: Actor | None = None,
    ) -> tuple[TxState, str]:
        """Record a branch; returns the state and the payload as the store holds it (what gets signed).
        A branch never changes: an identical re-registration is a retry, anything else is refused."""
        _validate_gid(gid)
        kind = kind or BranchKind.TCC.value
        if kind not in BRANCH_KINDS:
            raise InvalidArgument(f"kind: expected one of {', '.join(BRANCH_KINDS)}, got {kind[:20]!r}")
        validation.branch_id(branch_id)
        validation.service(service)
        validation.action(action)
        payload = validation.payload(payload)
        state, detail = await self.store.register_branch(
            gid, self._timeout(timeout_s), branch_id, service, action, payload, kind, actor
        )
        if state == "BEGIN" and detail is not None:
            return TxState.BEGIN, detail
        if state == "DIFFERS":
            raise BranchConflict(gid, branch_id, detail or "registration")
        if state == "NOT_OWNER":
            raise NotPermitted(f"register a branch in {gid!r}: {_not_yours(actor, detail)}")
        if state == "EXPIRED":
            await self._rollback_expired(gid)
            raise InvalidState(gid, "past its timeout", "register a branch in", "it is being rolled back")
        raise InvalidState(gid, state, "register a branch in", "begin a new transaction")

    async def _rollback_expired(self, gid: str) -> None:
        with self.driver.driven.reserved(gid):
            decided = await self.store.decide(gid, Phase2.CANCEL, "timeout", self.node_id, self.settings.lease)
            if decided is not None:
                self.driver.drive(gid, Phase2.CANCEL, decided.branches)

    async def commit(
        self,
        gid: str,
        phase2_delay: float = 0.0,
        actor: Actor | None = None,
        receipted: frozenset[str] | None = None,
    ) -> tuple[TxState, str]:
        """Decide commit; returns the state and, when it became a rollback instead, why. ``phase2_delay`` > 0:
        the caller finishes phase 2 itself and says so with ``finish``; phase 2 is driven only if that has not
        happened within the delay. ``receipted`` (signing on): the branches whose try receipt the caller showed;
        a TCC branch without one turns the decision into a rollback, in the same store call (None: signing
        off, not checked)."""
        _validate_gid(gid)
        if not 0 <= phase2_delay <= MAX_TIMEOUT:
            raise InvalidArgument(f"phase2_delay_seconds: must be in [0, {MAX_TIMEOUT:.0f}], got {phase2_delay}")
        if FAILPOINTS.broken("confirm_without_decision"):  # TEST ONLY (see above): no durable decision
            self.driver.drive(gid, Phase2.CONFIRM, (await self._existing(gid)).branches)
            return TxState.COMMITTING, ""
        with self.driver.driven.reserved(gid):
            decided = await self.store.decide(
                gid, Phase2.CONFIRM, "commit", self.node_id, self.settings.lease, actor, receipted
            )
            if decided is not None and decided.op is Phase2.CANCEL:  # a branch without a try receipt
                who = actor.name if actor is not None else "its caller (security off)"
                log.warning("%s: commit by %s refused, rolling back: %s", gid, who, decided.reason)
                self.driver.drive(gid, Phase2.CANCEL, decided.branches)
                return TxState.ROLLING_BACK, decided.reason
            if decided is not None:
                not_before = datetime.now(UTC) + timedelta(seconds=phase2_delay) if phase2_delay else None
                self.driver.drive(gid, Phase2.CONFIRM, decided.branches, not_before=not_before)
                return TxState.COMMITTING, ""
        tx = await self._existing(gid)
        _check_owner(tx, actor, "commit")
        if tx.state in (TxState.COMMITTING, TxState.COMMITTED):
            return tx.state, ""  # a retried commit
        if tx.state is TxState.BEGIN:  # not decided: it is past its deadline
            await self._rollback_expired(gid)
            raise TransactionTimedOut(gid)
        raise InvalidState(gid, tx.state, "commit", f"it was rolled back ({tx.reason or 'no reason recorded'})")

    async def finish(self, gid: str, actor: Actor | None = None) -> TxState:
        """The caller finished phase 2 of a transaction it committed with a phase-2 delay: only the identity
        that began it (the proxy that owns its XA branches) may say so."""
        _validate_gid(gid)
        if actor is not None and not actor.admin:
            _check_owner(await self._existing(gid), actor, "finish")
        if await self.store.finish(gid, Phase2.CONFIRM, self.node_id):
            self.driver.cancel(gid)
            if actor is not None:  # the timeline says who finished it
                await self.store.add_event(gid, None, "finished_by_caller", actor.name)
            return TxState.COMMITTED
        # not ours (recovered elsewhere) or not COMMITTING: phase 2 runs (or ran) as usual, harmlessly again
        return (await self._existing(gid)).state

    async def rollback(
        self, gid: str, reason: str = "rollback", untried: Sequence[str] = (), actor: Actor | None = None
    ) -> TxState:
        """Decide rollback. ``untried``: branches whose try the owner says never ran (no such action at the
        participant, or no participant at all). Their cancels are still sent, retried like any phase-2 call: a
        participant mid-restart whose try did apply gets its cancel when it is back. Only an untried branch whose
        participant answers it has no such action, or whose service stays unreachable past the coordinator's
        ``unregistered_bound``, counts as cancelled without one (``cancel_skipped`` in the timeline)."""
        _validate_gid(gid)
        for branch in untried:
            validation.branch_id(branch, "untried_branch_ids")
        reason = validation.reason(reason)
        with self.driver.driven.reserved(gid):  # recovery must not drive the untried branches meanwhile
            decided = await self.store.decide(
                gid, Phase2.CANCEL, reason or "rollback", self.node_id, self.settings.lease, actor
            )
            if decided is not None:
                branches = decided.branches
                listed = frozenset(b.branch_id for b in branches if b.branch_id in set(untried))
                who = actor.name if actor is not None else "its caller (security off)"
                for branch_id in sorted(listed):  # in the timeline, and for recovery (after a restart or takeover)
                    await self.store.add_event(gid, branch_id, UNTRIED_EVENT, f"{who} says its try was never sent")
                self.driver.drive(gid, Phase2.CANCEL, branches, untried=listed)
                return TxState.ROLLING_BACK
        tx = await self._existing(gid)
        _check_owner(tx, actor, "roll back")
        if tx.state in (TxState.ROLLING_BACK, TxState.ROLLED_BACK):
            return tx.state
        raise InvalidState(gid, tx.state, "roll back", "it is already committed")

    async def abort(self, gid: str, actor: str = "") -> TxState:
        """Admin: roll back a transaction still in BEGIN. ``actor``: who asked, for the timeline."""
        _validate_gid(gid)
        by = _by(actor, "txc tx abort")
        tx = await self._existing(gid)
        if tx.state is not TxState.BEGIN:
            raise InvalidState(gid, tx.state, "abort", "only a transaction in BEGIN can be aborted")
        state = await self.rollback(gid, "aborted by admin")
        await self.store.add_event(gid, None, "aborted", by)
        return state

    async def retry(self, gid: str, actor: str = "") -> TxState:
        """Admin: run the next phase-2 round now instead of after the backoff wait; a transaction marked for a
        person (COMMIT_FAILED / ROLLBACK_FAILED) goes back to phase 2. Returns the state after the retry."""
        _validate_gid(gid)
        by = _by(actor, "txc tx retry")
        tx = await self._existing(gid)
        if tx.state in (TxState.COMMIT_FAILED, TxState.ROLLBACK_FAILED):
            if not await self.store.reopen(gid, phase2_of(tx.state)):
                raise InvalidState(gid, tx.state, "retry", "it changed meanwhile; look again with `txc tx show`")
        elif not tx.state.deciding_phase2:
            raise InvalidState(
                gid, tx.state, "retry", "only COMMITTING, ROLLING_BACK or *_FAILED transactions have phase 2 left"
            )
        await self.store.add_event(gid, None, "retry_requested", f"{by} via {self.node_id}")
        if not self.driver.wake(gid):
            await self.store.release(gid)
            self.recovery.poke()
        return (await self._existing(gid)).state

    async def resolve(self, gid: str, branch_id: str, outcome: str, actor: str = "") -> TxState:
        """Admin: a person finished a branch marked for a person (confirmed or cancelled it by hand)."""
        _validate_gid(gid)
        by = _by(actor, "txc tx resolve")
        validation.branch_id(branch_id)
        states = {"confirmed": BranchState.CONFIRMED, "cancelled": BranchState.CANCELLED}
        if outcome not in states:
            raise InvalidArgument(f"as: expected confirmed or cancelled, got {validation.shown(outcome)}")
        tx = await self._existing(gid)
        if not any(b.branch_id == branch_id for b in tx.branches):
            raise InvalidArgument(f"branch: {gid} has no branch {branch_id!r}")
        state = await self.store.resolve_branch(gid, branch_id, states[outcome], f"{outcome} by a person ({by})")
        if state is None:
            raise InvalidState(
                gid, tx.state, f"resolve branch {branch_id} of", "only an open branch of a *_FAILED transaction"
            )
        return state

    async def _existing(self, gid: str) -> Transaction:
        tx = await self.store.get(gid)
        if tx is None:
            raise TransactionNotFound(gid)
        return tx

    async def query(self, gid: str) -> tuple[Transaction, list[Event]]:
        _validate_gid(gid)
        tx = await self._existing(gid)
        return tx, await self.store.events(gid)

    async def activity(self, minutes: int) -> list[tuple[datetime, int, int, int]]:
        """Outcomes per minute of the transactions begun in the last ``minutes`` (oldest first)."""
        if not 0 < minutes <= 180:
            raise InvalidArgument(f"minutes: must be in 1..180, got {minutes}")
        return await self.store.activity(minutes)

    async def list(
        self, filters: ListFilter, limit: int, *, with_counts: bool = True
    ) -> tuple[list[Transaction], dict[tuple[str, str], int]]:
        """A page of transactions, newest first, and (``with_counts``) how many there are per (state, mode)."""
        if filters.state is not None and filters.state not in TxState.__members__:
            known = ", ".join(TxState.__members__)
            raise InvalidArgument(f"state: expected one of {known}, got {validation.shown(filters.state)}")
        if filters.mode is not None and filters.mode not in MODES:
            raise InvalidArgument(f"mode: expected one of {', '.join(MODES)}, got {validation.shown(filters.mode)}")
        if filters.older_than_s is not None and not 0 <= filters.older_than_s < 10 * 365 * 86400:
            raise InvalidArgument(
                f"older_than_seconds: must be 0 or more (and under ten years), got {filters.older_than_s}"
            )
        for field, value in (("service", filters.service), ("gid_prefix", filters.gid_prefix)):
            if value is not None:
                validation.text(value, field, limit=200)
        if filters.after_gid is not None:
            _validate_gid(filters.after_gid)
        if not 0 < limit <= 10_000:
            raise InvalidArgument(f"limit: must be in 1..10000, got {limit}")
        page = await self.store.list_transactions(filters, limit)
        return page, (await self.store.counts() if with_counts else {})
