"""Finishing XA branches outside a client session: phase 2 by xid, and recovery of prepared branches.

Phase 2 comes from the coordinator (delivered to this proxy's service like a TCC confirm/cancel, to any live
instance); recovery runs on start and every ``transactions.recovery_interval``: ``XA RECOVER`` on every
backend, and each prepared branch of this proxy's service is finished by the coordinator's recorded
decision. A branch the coordinator has no record of is rolled back (a prepare always follows its
registration, so such a branch can only belong to a transaction the coordinator no longer knows). A branch
whose transaction is still undecided is left alone: the coordinator rolls it back at its timeout and
delivers that here, so nothing stays prepared (holding row locks) forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from dbproxy.errors import ProxyError
from dbproxy.executor.pool import Pools
from dbproxy.metrics import xa_recovered, xa_scanned
from dbproxy.xa import Xid, finish, prepared

log = logging.getLogger("dbproxy.xa")


class XaDecision(enum.Enum):
    COMMIT = "commit"
    ROLLBACK = "rollback"
    PENDING = "pending"  # undecided, or the coordinator cannot be asked now


async def finish_branch(pools: Pools, xid: Xid, commit: bool) -> bool:
    """Phase 2 of one branch from a pooled connection; True if this call finished it (see ``xa.finish``)."""
    pool = pools[xid.backend]
    conn = await pool.acquire(False, 45, ())
    try:
        return await finish(conn, xid, commit)
    finally:
        pool.release(conn)


@dataclass
class RecoveryReport:
    committed: list[Xid] = field(default_factory=list)
    rolled_back: list[Xid] = field(default_factory=list)
    pending: list[Xid] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # backends that could not be scanned


class XaRecovery:
    def __init__(
        self,
        pools: Pools,
        backends: Sequence[str],
        service: str,
        decide: Callable[[str], Awaitable[XaDecision]],
        interval: float,
    ) -> None:
        self.pools = pools
        self.backends = list(backends)
        self.service = service
        self.decide = decide
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self.scans = 0

    async def scan(self) -> RecoveryReport:
        """One pass over every backend."""
        report = RecoveryReport()
        for backend in self.backends:
            try:
                pool = self.pools[backend]
                conn = await pool.acquire(False, 45, ())
                try:
                    found = await prepared(conn, self.service)
                    for xid in found:
                        decision = await self.decide(xid.gtrid)
                        if decision is XaDecision.PENDING:
                            report.pending.append(xid)
                            continue
                        commit = decision is XaDecision.COMMIT
                        if await finish(conn, xid, commit):
                            (report.committed if commit else report.rolled_back).append(xid)
                            log.warning("recovery: %s %s", "committed" if commit else "rolled back", xid)
                            xa_recovered(commit)
                finally:
                    pool.release(conn)
            except ProxyError as exc:
                report.failed.append(backend)
                log.warning("recovery: cannot scan backend '%s': %s", backend, exc.message)
        self.scans += 1
        xa_scanned(len(report.pending))
        return report

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
