"""An in-memory stand-in for the coordinator store, for unit tests of the engine's pure logic only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from txcoord.model import Event, TxState
from txcoord.tcc.model import Branch, BranchState, Phase2, Transaction


@dataclass
class FakeStore:
    transactions: dict[str, Transaction] = field(default_factory=dict)
    events_log: list[Event] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)  # gids whose ownership "another coordinator" took

    def add(self, gid: str, state: TxState, owner: str, branches: list[Branch]) -> Transaction:
        tx = Transaction(gid, state, 60.0, owner=owner, branches=branches)
        self.transactions[gid] = tx
        return tx

    async def finish(self, gid: str, decision: Phase2, owner: str) -> bool:
        tx = self.transactions[gid]
        for b in tx.branches:
            if b.state is BranchState.REGISTERED:
                b.state = decision.branch_done_state
        if tx.owner != owner or gid in self.lost:
            return False
        tx.state = decision.final_state
        return True

    async def branches_done(self, gid: str, branch_ids: Sequence[str], decision: Phase2) -> None:
        for b in self.transactions[gid].branches:
            if b.branch_id in branch_ids:
                b.state = decision.branch_done_state

    async def branch_failed(self, gid: str, branch_id: str, error: str, retry_in: float) -> None:
        for b in self.transactions[gid].branches:
            if b.branch_id == branch_id:
                b.attempts += 1
                b.last_error = error
        self.events_log.append(Event(gid, branch_id, datetime.now(UTC), "phase2_failed", f"{retry_in}"))

    async def transaction_failed(self, gid: str, owner: str, retry_in: float) -> int | None:
        if gid in self.lost:
            return None
        tx = self.transactions[gid]
        tx.attempts += 1
        return tx.attempts

    async def reverse_commit(self, gid: str, owner: str, reason: str) -> bool:
        tx = self.transactions[gid]
        if tx.state is not TxState.COMMITTING or tx.owner != owner:
            return False
        if any(b.state is BranchState.CONFIRMED for b in tx.branches):
            return False
        tx.state, tx.reason = TxState.ROLLING_BACK, reason
        return True

    async def give_up(self, gid: str, decision: Phase2, owner: str) -> None:
        self.transactions[gid].state = decision.failed_state

    async def add_event(self, gid: str, branch_id: str | None, event: str, detail: str | None) -> None:
        self.events_log.append(Event(gid, branch_id, datetime.now(UTC), event, detail))

    async def events(self, gid: str, limit: int = 200) -> list[Event]:
        return [e for e in self.events_log if e.gid == gid][-limit:]

    # -- what recovery asks (ownership is the owner column only: no clock, no leases) --------------------------
    async def expire_timed_out(self, owner: str, lease_s: float, limit: int) -> list[str]:
        return []

    async def claim(
        self, owner: str, lease_s: float, limit: int, exclude: Sequence[str]
    ) -> list[tuple[str, str | None]]:
        """Deciding transactions this node owns (as after its restart) that it does not drive."""
        deciding = (TxState.COMMITTING, TxState.ROLLING_BACK)
        due = [t for t in self.transactions.values() if t.state in deciding and t.owner == owner]
        return [(t.gid, t.owner) for t in due if t.gid not in exclude][:limit]

    async def get(self, gid: str) -> Transaction | None:
        return self.transactions.get(gid)
