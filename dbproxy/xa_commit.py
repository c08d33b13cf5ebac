"""Atomic multi-backend commit: XA branches of a global transaction decided by the coordinator.

A client transaction's branches are XA branches from their first statement (``SessionTransaction``). At
COMMIT:

- it wrote on at most one backend: every branch ends with ``XA END`` + ``XA COMMIT ... ONE PHASE`` (pipelined,
  one round trip, like COMMIT); the coordinator is not involved;
- it wrote on several: the written branches are registered with the coordinator (durably, before anything is
  prepared), then ``XA END`` + ``XA PREPARE`` on each (in parallel; read-only branches are simply committed in
  one phase, they have nothing to make durable); once every branch is prepared the coordinator records the
  commit decision, and only then is each branch's ``XA COMMIT`` sent (by this session, which then tells the
  coordinator so over its stream, without waiting: the coordinator makes phase-2 calls only if that report does
  not arrive within ``transactions.phase2_delay``, e.g. because the proxy died). A prepare that fails rolls everything
  back (the client gets the error); a commit decision that comes too late (the global transaction timed out)
  rolls back too. If the decision's outcome is unknown (the coordinator cannot be reached), the prepared
  branches are detached (their connections closed) and left to the coordinator: its phase 2 (delivered to
  this proxy's service, any instance) or the proxies' recovery finishes them by the recorded decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from dbproxy.errors import BackendError, BackendUnavailable, ProxyError, commit_lost
from dbproxy.failpoints import broken, crash_point
from dbproxy.transactions import BackendBranch, SequentialCommitter
from dbproxy.xa import Xid, end_and_rollback

log = logging.getLogger("dbproxy.xa")


class DecisionRefused(ProxyError):
    """The coordinator rolled the global transaction back instead of committing it (e.g. past its timeout)."""

    code = 1180  # ER_ERROR_DURING_COMMIT


class CoordinatorUnreachable(ProxyError):
    """The coordinator could not be asked; nothing is known to be decided."""

    code = 1180


class GlobalTransactions(Protocol):
    """What the committer needs from the coordinator (implemented by ``dbproxy.coordination``)."""

    service: str

    def new_gid(self) -> str: ...

    async def register(self, gid: str, xids: Sequence[Xid]) -> None:
        """Record the branches durably; raises CoordinatorUnreachable or DecisionRefused."""

    async def commit(self, gid: str) -> None:
        """Record the commit decision; raises DecisionRefused (rolled back instead) or OutcomeUnknown."""

    async def rollback(self, gid: str, reason: str) -> None:
        """Record a rollback decision (best effort: the coordinator's timeout rolls back anyway)."""

    def finished(self, gid: str) -> None:
        """Tell the coordinator (without waiting) that every branch is committed: it then makes no phase-2
        calls; if this never arrives it drives phase 2 itself after a delay."""


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ProxyError) else (str(exc) or type(exc).__name__)


class XaCommitter:
    xa = True

    def __init__(self, coordinator: GlobalTransactions) -> None:
        self.coordinator = coordinator
        self.service = coordinator.service
        self.local = SequentialCommitter()
        self.one_phase = 0  # commits that needed no coordinator
        self.two_phase = 0  # commits through the coordinator

    def new_gid(self) -> str:
        return self.coordinator.new_gid()

    async def commit(self, gid: str | None, branches: list[BackendBranch]) -> None:
        written = [b for b in branches if b.wrote and b.xid is not None]
        if gid is None or len(written) <= 1 or any(b.xid is None for b in branches):
            self.one_phase += 1
            await self._one_phase(branches)
            return
        self.two_phase += 1
        await self._two_phase(gid, written, [b for b in branches if b not in written])

    # -- one phase ---------------------------------------------------------------------------------------

    async def _one_phase(self, branches: list[BackendBranch]) -> None:
        if all(b.xid is None for b in branches):
            await self.local.commit(None, branches)
            return
        if len(branches) == 1:
            await self._commit_one_phase(branches[0])
            return
        # at most one branch wrote: commit the readers first (nothing to lose), then the writer
        writer = next((b for b in branches if b.wrote), None)
        readers = [b for b in branches if b is not writer]
        results = await asyncio.gather(*(self._commit_one_phase(b) for b in readers), return_exceptions=True)
        if writer is not None:
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                await self.rollback([writer])
                raise ProxyError(
                    f"COMMIT failed ({_describe(failed)}); the transaction was rolled back", code=1180
                ) from failed
            await self._commit_one_phase(writer)

    async def _commit_one_phase(self, branch: BackendBranch) -> None:
        conn, xid = branch.conn, branch.xid
        try:
            if xid is None:
                await conn.execute("COMMIT")
                return
            conn.send_pipelined(f"XA END {xid.sql}")
            await conn.execute(f"XA COMMIT {xid.sql} ONE PHASE")
        except BackendError as exc:  # the backend answered: it did not commit
            if xid is not None:
                await end_and_rollback(conn, xid)
            raise ProxyError(
                f"COMMIT failed on backend '{conn.name}' ({exc.message}); the transaction was rolled back",
                code=exc.code,
            ) from exc
        except BackendUnavailable as exc:  # no answer: a one-phase commit may have happened
            raise commit_lost(conn.name, exc) from exc

    # -- two phases ----------------------------------------------------------------------------------------

    async def _two_phase(self, gid: str, written: list[BackendBranch], readers: list[BackendBranch]) -> None:
        xids = [b.xid for b in written if b.xid is not None]
        try:
            await self.coordinator.register(gid, xids)
        except ProxyError as exc:
            await self.rollback(written + readers)
            await self._tell_rollback(gid, f"register failed: {exc.message}")
            raise ProxyError(
                f"COMMIT refused: the coordinator could not record the transaction ({exc.message}); "
                "it was rolled back on every backend",
                code=1180,
            ) from exc
        prepared = await asyncio.gather(
            *(self._prepare(b) for b in written), *(self._commit_one_phase(b) for b in readers), return_exceptions=True
        )
        failed = [(b, r) for b, r in zip(written, prepared, strict=False) if isinstance(r, BaseException)]
        if failed:
            await self.rollback(written)
            branch, error = failed[0]
            await self._tell_rollback(gid, f"prepare failed on {branch.name}: {_describe(error)}")
            raise ProxyError(
                f"COMMIT failed: backend '{branch.name}' could not prepare its part ({_describe(error)}); "
                "the transaction was rolled back on every backend",
                code=error.code if isinstance(error, BackendError) else 1180,
            ) from error
        crash_point("xa_after_prepare")
        try:
            await self.coordinator.commit(gid)
        except DecisionRefused:
            await self.rollback(written)
            raise
        except ProxyError:
            # The decision may or may not be recorded: only the coordinator knows. Detach the prepared
            # branches (closing a connection keeps its prepared XA branch) so that phase 2 or recovery,
            # in any proxy instance, finishes them by what it recorded.
            for branch in written:
                branch.conn.close()
            raise
        crash_point("xa_after_decision")
        if broken("xa_commit_first_branch_only"):  # test-only: a non-atomic commit the chaos checkers must catch
            await asyncio.gather(*(end_and_rollback(b.conn, b.xid) for b in written[1:] if b.xid is not None))
            written = written[:1]
        done = await asyncio.gather(*(self._xa_commit(b) for b in written))
        if all(done):
            self.coordinator.finished(gid)

    async def _prepare(self, branch: BackendBranch) -> None:
        conn, xid = branch.conn, branch.xid
        assert xid is not None
        conn.send_pipelined(f"XA END {xid.sql}")
        await conn.execute(f"XA PREPARE {xid.sql}")

    async def _xa_commit(self, branch: BackendBranch) -> bool:
        conn, xid = branch.conn, branch.xid
        assert xid is not None
        try:
            await conn.execute(f"XA COMMIT {xid.sql}")
        except ProxyError as exc:
            # decided: the coordinator's phase 2 (or recovery) commits it once this connection lets go of it
            log.warning("%s: XA COMMIT on %s failed (%s); the coordinator will finish it", xid, conn.name, exc.message)
            conn.close()
            return False
        return True

    async def _tell_rollback(self, gid: str, reason: str) -> None:
        try:
            await self.coordinator.rollback(gid, reason[:200])
        except ProxyError as exc:  # its timeout rolls it back; our branches are rolled back already
            log.info("%s: could not record the rollback (%s); the coordinator's timeout will", gid, exc.message)

    async def rollback(self, branches: list[BackendBranch]) -> None:
        async def one(branch: BackendBranch) -> None:
            if branch.xid is None:
                await self.local.rollback([branch])
            else:
                await end_and_rollback(branch.conn, branch.xid)

        await asyncio.gather(*(one(b) for b in branches))
