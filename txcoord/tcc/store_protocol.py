"""What TCC needs from a store, beyond what every mode needs (``txcoord.engine.store.Store``). One implementation
ships (``txcoord.tcc.store.PgStore``, PostgreSQL); tests of pure logic may fake it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from txcoord.engine.store import Store
from txcoord.model import Actor, ListFilter, TxState
from txcoord.tcc.model import BranchState, Decision, Phase2, Transaction


class TccStore(Store, Protocol):
    async def begin(self, gid: str, timeout_s: float, actor: Actor | None = None) -> None:
        """Create the transaction in BEGIN, initiated by ``actor``, unless it exists."""

    async def register_branch(
        self,
        gid: str,
        timeout_s: float,
        branch_id: str,
        service: str,
        action: str,
        payload: str,
        kind: str = "TCC",
        actor: Actor | None = None,
    ) -> tuple[str, str | None]:
        """Durably record a branch (beginning the transaction, initiated by ``actor``, if needed). Returns
        (``BEGIN``, the payload as stored) when recorded or when it is exactly the branch recorded before;
        (``DIFFERS``, the first differing field) when the branch id holds another registration; (``NOT_OWNER``,
        the initiator) when another identity began the transaction; (``EXPIRED``, None) past the deadline; else
        (the state that forbids it, None)."""

    async def decide(
        self,
        gid: str,
        decision: Phase2,
        reason: str,
        owner: str,
        lease_s: float,
        actor: Actor | None = None,
        receipted: frozenset[str] | None = None,
    ) -> Decision | None:
        """BEGIN -> COMMITTING/ROLLING_BACK owned by ``owner``: what was decided and the branches to drive, or
        None if the transaction was not in BEGIN (or a commit came past its deadline, or ``actor`` did not begin
        it). ``receipted`` (a commit with signing on): the branches with a valid try receipt; a TCC branch not
        among them makes the same statement decide a rollback instead, naming it (None: not checked)."""

    async def get(self, gid: str) -> Transaction | None:
        """The transaction with its branches."""

    async def list_transactions(self, filters: ListFilter, limit: int) -> list[Transaction]:
        """Newest first, ``limit`` of those matching ``filters`` after its cursor."""

    async def activity(self, minutes: int) -> list[tuple[datetime, int, int, int]]:
        """(minute, committed, rolled back, other) of the transactions begun in the last ``minutes``."""

    async def counts(self) -> dict[tuple[str, str], int]:
        """Transactions per (state, mode) over the whole store."""

    async def finish(self, gid: str, decision: Phase2, owner: str) -> bool:
        """Every branch reached: mark it terminal if ``owner`` still owns it."""

    async def branches_done(self, gid: str, branch_ids: Sequence[str], decision: Phase2) -> None: ...

    async def branch_failed(self, gid: str, branch_id: str, error: str, retry_in: float) -> None: ...

    async def transaction_failed(self, gid: str, owner: str, retry_in: float) -> int | None:
        """Count a failed phase-2 round; the new attempt count, or None if ``owner`` lost the transaction."""

    async def reverse_commit(self, gid: str, owner: str, reason: str) -> bool:
        """COMMITTING -> ROLLING_BACK (still owned by ``owner``) while no branch is confirmed; False otherwise."""

    async def give_up(self, gid: str, decision: Phase2, owner: str) -> None: ...

    async def resolve_branch(self, gid: str, branch_id: str, state: BranchState, detail: str) -> TxState | None:
        """A person marks an open branch of a COMMIT_FAILED/ROLLBACK_FAILED transaction done; None if not allowed."""

    async def reopen(self, gid: str, decision: Phase2) -> bool:
        """COMMIT_FAILED/ROLLBACK_FAILED back to deciding and unowned, so recovery drives it again."""

    async def expire_timed_out(self, owner: str, lease_s: float, limit: int) -> list[str]: ...

    async def release(self, gid: str) -> bool: ...

    async def close(self) -> None: ...
