"""Atomic multi-backend commit: XA branches of a global transaction, decided inside one of its backends.

A client transaction's branches are XA branches from their first statement (``SessionTransaction``); the
first backend it touched is its *decider*, named in every other branch's xid. At COMMIT:

- it wrote on at most one backend: every branch ends with ``XA END`` + ``XA COMMIT ... ONE PHASE`` (pipelined,
  one round trip, like COMMIT);
- it wrote on several: in parallel, every other written branch gets ``XA END`` + ``XA PREPARE`` (pipelined),
  read-only branches commit in one phase, and the decider inserts the decision row into its own still-open
  branch (``dbproxy.xa.decisions``). Once all of that succeeded, the decider's ``XA END`` + ``XA COMMIT ... ONE
  PHASE`` commits its writes and the decision in one local commit: that is the commit point. Then the prepared
  branches are committed, and the finished transaction is queued for the coordinator's record (``XaLog``,
  batched, off this path). Nothing outside the backends is written before the client's OK.

A prepare or decision insert that fails rolls everything back (the client gets the error; a duplicate decision
key means recovery had already rolled the transaction back, see ``dbproxy.xa.decisions``). A decider commit
without an answer leaves the outcome unknown: the prepared branches are detached (their connections closed)
and recovery, in any instance, finishes them by whether the decision row exists. docs/xa.md has the crash
analysis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from dbproxy.errors import BackendError, BackendUnavailable, OutcomeUnknown, ProxyError, commit_lost
from dbproxy.xa.decisions import COMMIT, ER_DUP_ENTRY, DecisionTable
from dbproxy.xa.statements import Xid, commit_one_phase, commit_prepared, end_and_rollback, prepare
from dbproxy.xa.transactions import BackendBranch, SequentialCommitter
from sdk.errors import describe
from sdk.failpoints import Failpoints

log = logging.getLogger("dbproxy.xa")

# DBPROXY_FAILPOINTS, TEST ONLY (the crash and chaos tests): ``xa_after_prepare`` and the other ``crash_point``
# names below make the proxy SIGKILL itself the first time it reaches that step of a commit;
# ``xa_commit_first_branch_only`` is a deliberately broken build: after the commit decision only the first written
# branch is committed and the others rolled back, so the chaos checkers can show they catch a non-atomic commit.
FAILPOINTS = Failpoints("DBPROXY_FAILPOINTS")


@dataclass(frozen=True, slots=True)
class FinishedXa:
    """A multi-backend transaction that reached its end, for the coordinator's record."""

    gid: str
    committed: bool
    decider: str
    xids: tuple[Xid, ...]  # every written branch (the decider's first)
    reason: str = ""
    started_at: float = 0.0
    forget: bool = False  # its decision row may be deleted once the coordinator recorded it


class XaLog(Protocol):
    """What the committer needs besides the backends (implemented by ``dbproxy.xa.coordination``)."""

    service: str
    decisions: DecisionTable

    def new_gid(self) -> str: ...

    def report(self, finished: FinishedXa) -> None:
        """Queue the outcome for the coordinator (never waits: the coordinator is off the commit path)."""


class XaCommitter:
    xa = True

    def __init__(self, xa_log: XaLog) -> None:
        self.xa_log = xa_log
        self.service = xa_log.service
        self.decisions = xa_log.decisions
        self.local = SequentialCommitter()
        self.one_phase = 0  # commits of at most one writer
        self.two_phase = 0  # commits decided by a decision row

    def new_gid(self) -> str:
        return self.xa_log.new_gid()

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
                    f"COMMIT failed ({describe(failed)}); the transaction was rolled back", code=1180
                ) from failed
            await self._commit_one_phase(writer)

    async def _commit_one_phase(self, branch: BackendBranch, rolled_back: list[BackendBranch] | None = None) -> None:
        """Commit one branch locally; if the backend refuses, it and ``rolled_back`` are rolled back."""
        conn, xid = branch.conn, branch.xid
        try:
            if xid is None:
                await conn.execute("COMMIT")
                return
            await commit_one_phase(conn, xid)
        except BackendError as exc:  # the backend answered: it did not commit
            if xid is not None:
                await end_and_rollback(conn, xid)
            if rolled_back:
                await self.rollback(rolled_back)
            raise ProxyError(
                f"COMMIT failed on backend '{conn.name}' ({exc.message}); the transaction was rolled back",
                code=exc.code,
            ) from exc
        except BackendUnavailable as exc:  # no answer: a one-phase commit may have happened
            raise commit_lost(conn.name, exc) from exc

    # -- two phases, decided in one backend -----------------------------------------------------------------

    async def _two_phase(self, gid: str, written: list[BackendBranch], readers: list[BackendBranch]) -> None:
        started = time.time()
        decider = next((b for b in written if b.xid is not None and b.xid.decider == b.name), None)
        if decider is None:  # the first backend only read: its open branch holds the decision all the same
            decider = next((b for b in readers if b.xid is not None and b.xid.decider == b.name), None)
            readers = [b for b in readers if b is not decider]
        if decider is None:  # cannot happen: the first branch is pinned until the end (a lost one rolls back)
            await self.rollback(written + readers)
            raise ProxyError("COMMIT failed: the transaction's deciding branch is gone; it was rolled back", code=1180)
        others = [b for b in written if b is not decider]
        involved = [decider, *others]
        xids = tuple(b.xid for b in involved if b.xid is not None)

        def finished(committed: bool, reason: str = "", forget: bool = False) -> None:
            self.xa_log.report(FinishedXa(gid, committed, decider.name, xids, reason, started, forget))

        FAILPOINTS.crash_point("xa_before_prepare")
        decision_sql = self.decisions.insert_sql(gid, COMMIT, [b.name for b in involved])
        results = await asyncio.gather(
            self._insert_decision(decider, decision_sql),
            *(self._prepare(b) for b in others),
            *(self._commit_one_phase(b) for b in readers),
            return_exceptions=True,
        )
        failed = [(b, r) for b, r in zip(involved, results, strict=False) if isinstance(r, BaseException)]
        if failed:
            await self.rollback(involved)
            branch, error = failed[0]
            if branch is decider and isinstance(error, BackendError) and error.code == ER_DUP_ENTRY:
                reason = "recovery rolled it back: it stayed prepared longer than transactions.timeout"
            else:
                what = "record the commit decision" if branch is decider else "prepare its part"
                reason = f"backend '{branch.name}' could not {what} ({describe(error)})"
            finished(False, reason[:500])
            raise ProxyError(
                f"COMMIT failed: {reason}; the transaction was rolled back on every backend",
                code=error.code if isinstance(error, BackendError) and branch is not decider else 1180,
            ) from error
        FAILPOINTS.crash_point("xa_after_prepare")
        try:
            await self._commit_one_phase(decider, rolled_back=others)
        except OutcomeUnknown:
            # No answer: the decision may be committed or not. Detach the prepared branches (a closed connection
            # keeps its prepared XA branch); recovery finishes them by whether the decision row exists.
            for branch in others:
                branch.conn.close()
            raise
        except ProxyError as exc:  # answered: nothing committed (the decider rolled back, and so did the others)
            finished(False, exc.message[:500])
            raise
        FAILPOINTS.crash_point("xa_after_decision")
        if FAILPOINTS.broken(
            "xa_commit_first_branch_only"
        ):  # test-only: a non-atomic commit the chaos checkers must catch
            await asyncio.gather(*(end_and_rollback(b.conn, b.xid) for b in others if b.xid is not None))
            others = []
        done = await asyncio.gather(*(self._xa_commit(b) for b in others))
        FAILPOINTS.crash_point("xa_before_report")
        if all(done):
            finished(True, forget=True)
        # else recovery commits the rest by the decision row; the row's sweep reports the transaction then

    async def _insert_decision(self, decider: BackendBranch, sql: str) -> None:
        await decider.conn.execute(sql)  # in the decider's open branch: committed only with it

    async def _prepare(self, branch: BackendBranch) -> None:
        conn, xid = branch.conn, branch.xid
        assert xid is not None
        await prepare(conn, xid)
        FAILPOINTS.crash_point("xa_after_first_prepare")

    async def _xa_commit(self, branch: BackendBranch) -> bool:
        conn, xid = branch.conn, branch.xid
        assert xid is not None
        try:
            await commit_prepared(conn, xid)
        except ProxyError as exc:
            # decided: recovery (of any instance) commits it by the decision row once this connection lets go
            log.warning("%s: XA COMMIT on %s failed (%s); recovery will finish it", xid, conn.name, exc.message)
            conn.close()
            return False
        FAILPOINTS.crash_point("xa_after_first_commit")
        return True

    async def rollback(self, branches: list[BackendBranch]) -> None:
        async def one(branch: BackendBranch) -> None:
            if branch.xid is None:
                await self.local.rollback([branch])
            else:
                await end_and_rollback(branch.conn, branch.xid)

        await asyncio.gather(*(one(b) for b in branches))
