"""The coordinator's record of finished multi-backend transactions, sent in batches off the commit path.

Commits queue their outcome here and return; one task sends everything queued so far as one message (a
report of many transactions; while it is in flight the next one fills), then deletes the decision rows the
coordinator has now recorded (one ``DELETE`` per decider backend and batch). While no coordinator answers,
reports wait in a bounded queue and are retried; past the bound they are dropped from memory, which loses
nothing durable: a committed transaction's decision row stays until reported, and recovery's sweep reports
rows that nobody did (``dbproxy.xa.recovery``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from dbproxy.backends.pool import Pools
from dbproxy.errors import ProxyError
from dbproxy.xa.commit import FinishedXa
from dbproxy.xa.decisions import DecisionTable

log = logging.getLogger("dbproxy.xa")

Send = Callable[[Sequence[FinishedXa]], Awaitable[None]]


class XaReporter:
    def __init__(
        self,
        send: Send,
        pools: Pools,
        decisions: DecisionTable,
        *,
        max_queue: int = 100_000,
        max_batch: int = 5000,
        linger: float = 0.05,
    ) -> None:
        self._send = send
        # Nobody waits for a report, so it waits for company: at most ~1/linger messages a second, however many
        # commits (each message costs the proxy and the coordinator about what a small one does).
        self.linger = linger
        self.pools = pools
        self.decisions = decisions
        self.max_queue = max_queue
        self.max_batch = max_batch
        self._queue: dict[str, FinishedXa] = {}  # by gid, oldest first
        self._sending: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # transactions the coordinator recorded
        self.messages = 0  # reports that carried them
        self.dropped = 0  # over the bound while the coordinator was away
        self.failures = 0  # sends that failed (then retried)

    def report(self, finished: FinishedXa) -> bool:
        """Queue one outcome; False if it is queued already or the queue is full."""
        if finished.gid in self._queue or finished.gid in self._sending:
            return False
        if len(self._queue) >= self.max_queue:
            self.dropped += 1
            return False
        self._queue[finished.gid] = finished
        self._wake.set()
        return True

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._sending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="xa-reporter")

    async def _loop(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger)
            self._wake.clear()
            while self._queue:
                if await self._send_some():
                    delay = 0.05
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    async def _send_some(self) -> bool:
        gids = list(self._queue)[: self.max_batch]
        batch = [self._queue.pop(g) for g in gids]
        self._sending.update(gids)
        try:
            await self._send(batch)
        except asyncio.CancelledError:
            self._queue = {**{f.gid: f for f in batch}, **self._queue}
            raise
        except Exception as exc:  # no coordinator answered: keep them, oldest first
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning("cannot report %d XA transactions to the coordinator (retrying): %s", len(batch), exc)
            self._queue = {**{f.gid: f for f in batch}, **self._queue}
            return False
        finally:
            self._sending.difference_update(gids)
        self.sent += len(batch)
        self.messages += 1
        await self._forget(batch)
        return True

    async def _forget(self, batch: Sequence[FinishedXa]) -> None:
        """Delete the decision rows the coordinator now has (failures leave them to the next sweep)."""
        by_decider: dict[str, list[str]] = {}
        for finished in batch:
            if finished.forget:
                by_decider.setdefault(finished.decider, []).append(finished.gid)
        for backend, gids in by_decider.items():
            try:
                pool = self.pools[backend]
                conn = await pool.acquire(False, 45, ())
                try:
                    await self.decisions.delete(conn, gids)
                finally:
                    pool.release(conn)
            except ProxyError as exc:
                log.info("could not delete %d decision rows on '%s' (%s); the sweep will", len(gids), backend, exc)

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Stop, after one last try to send what is queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send_some(), flush_timeout)
