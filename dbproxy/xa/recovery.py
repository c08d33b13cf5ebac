"""Recovery of XA branches left prepared, and the sweep that reports decision rows nobody reported.

Runs on start and every ``transactions.recovery_interval`` in every proxy instance of a service. One scan:

1. reads, on every backend, this service's decision rows older than ``transactions.timeout`` (candidates
   for the sweep; read first, see 4);
2. ``XA RECOVER`` on every backend: the prepared branches of this service;
3. decides each by its decider's row (the xid names the decider): ``C`` -> ``XA COMMIT``, ``A`` -> ``XA
   ROLLBACK``. No row: the transaction may still be committing, so the branch is left alone until this
   instance has seen it prepared and undecided for longer than ``transactions.timeout`` (measured here, by
   age only: no clock of another machine is trusted); then a tombstone is inserted on the decider (it waits
   for, and loses to, a decision in flight) and the branch follows whichever outcome won;
4. reports each candidate row whose transaction has no branch left prepared to the coordinator (its reporter
   deletes the row once recorded). A candidate was committed before step 2, so every branch of it was
   prepared before step 2 too: one that is still prepared shows up there, and its row is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from dbproxy.backends.connection import BackendConnection
from dbproxy.backends.pool import Pools
from dbproxy.errors import BackendError, ProxyError
from dbproxy.xa.commit import FinishedXa
from dbproxy.xa.decisions import COMMIT, DecisionTable
from dbproxy.xa.statements import Xid, finish, prepared

log = logging.getLogger("dbproxy.xa")
T = TypeVar("T")
SWEEP_LIMIT = 1000  # rows per backend and scan
ER_NO_SUCH_TABLE = 1146


@dataclass
class RecoveryReport:
    committed: list[Xid] = field(default_factory=list)
    rolled_back: list[Xid] = field(default_factory=list)
    pending: list[Xid] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # backends that could not be scanned
    swept: list[str] = field(default_factory=list)  # gids of decision rows handed to the reporter


class XaRecovery:
    def __init__(
        self,
        pools: Pools,
        backends: Sequence[str],
        decisions: DecisionTable,
        timeout: float,
        interval: float,
        report: Callable[[FinishedXa], bool],
    ) -> None:
        self.pools = pools
        self.backends = list(backends)
        self.decisions = decisions
        self.service = decisions.service
        self.timeout = timeout
        self.interval = interval
        self.report = report  # False: already queued
        self._undecided_since: dict[str, float] = {}  # gid -> when this instance first saw it prepared, undecided
        self._task: asyncio.Task[None] | None = None
        self.scans = 0

    async def _on(self, backend: str, work: Callable[[BackendConnection], Awaitable[T]]) -> T:
        pool = self.pools[backend]
        conn = await pool.acquire(False, 45, ())
        try:
            return await work(conn)
        finally:
            pool.release(conn)

    async def scan(self) -> RecoveryReport:
        """One pass over every backend."""
        report = RecoveryReport()
        candidates: dict[str, list[tuple[str, str, list[str]]]] = {}
        for backend in self.backends:
            try:
                candidates[backend] = await self._on(backend, self._candidates)
            except ProxyError as exc:
                log.warning("recovery: cannot read decisions on backend '%s': %s", backend, exc.message)
        found: dict[str, list[Xid]] = {}
        for backend in self.backends:
            try:
                found[backend] = await self._on(backend, lambda c: prepared(c, self.service))
            except ProxyError as exc:
                report.failed.append(backend)
                log.warning("recovery: cannot scan backend '%s': %s", backend, exc.message)
        by_gid: dict[str, list[Xid]] = {}
        for xids in found.values():
            for xid in xids:
                by_gid.setdefault(xid.gtrid, []).append(xid)
        for gid, xids in by_gid.items():
            await self._recover(gid, xids, report)
        self._undecided_since = {g: t for g, t in self._undecided_since.items() if g in by_gid}
        if not report.failed:  # a backend not scanned may hold a prepared branch of any candidate
            for decider, rows in candidates.items():
                for gid, outcome, backends in rows:
                    if gid not in by_gid and self.report(self._finished(gid, outcome, decider, backends)):
                        report.swept.append(gid)
        self.scans += 1
        return report

    async def _candidates(self, conn: BackendConnection) -> list[tuple[str, str, list[str]]]:
        try:
            return await self.decisions.older_than(conn, self.timeout, SWEEP_LIMIT)
        except BackendError as exc:
            if exc.code != ER_NO_SUCH_TABLE:
                raise
            await self.decisions.create(conn)  # the backend was down when the proxy started
            return []

    def _finished(self, gid: str, outcome: str, decider: str, backends: list[str]) -> FinishedXa:
        """What a decision row says happened (the sweep's report; its row goes once recorded)."""
        xids = tuple(Xid.of(gid, self.service, b, decider) for b in backends or [decider])
        if outcome == COMMIT:
            return FinishedXa(gid, True, decider, xids, forget=True)
        reason = "rolled back by recovery: prepared and undecided for longer than transactions.timeout"
        return FinishedXa(gid, False, decider, xids, reason, forget=True)

    async def _recover(self, gid: str, xids: list[Xid], report: RecoveryReport) -> None:
        decider = xids[0].decider
        try:
            outcome = await self._on(decider, lambda c: self.decisions.read(c, gid))
            if outcome is None:
                now = time.monotonic()
                since = self._undecided_since.setdefault(gid, now)
                if now - since < self.timeout:
                    report.pending.extend(xids)
                    return
                backends = [decider, *(x.backend for x in xids if x.backend != decider)]
                outcome = await self._on(decider, lambda c: self.decisions.abort(c, gid, backends))
        except ProxyError as exc:
            log.warning("recovery: cannot read the decision of %s on '%s': %s", gid, decider, exc.message)
            report.pending.extend(xids)
            return
        commit = outcome == COMMIT
        for xid in xids:
            try:
                if await self._on(xid.backend, functools.partial(finish, xid=xid, commit=commit)):
                    (report.committed if commit else report.rolled_back).append(xid)
                    log.warning("recovery: %s %s", "committed" if commit else "rolled back", xid)
            except ProxyError as exc:
                log.warning("recovery: cannot finish %s: %s", xid, exc.message)
                report.pending.append(xid)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="xa-recovery")

    async def _loop(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:  # keep scanning: a branch left prepared holds row locks
                log.exception("recovery scan failed")
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
