"""Client transactions over backend connections.

A session pins one backend connection per backend it touches while a transaction is open. Ending the
transaction goes through ``Committer``: the one place where a multi-backend commit happens. Today that is
``SequentialCommitter`` — commit each backend in turn, which is NOT atomic (a failure after the first commit
leaves the others committed and is reported as PartialCommit). The coordinator-backed XA implementation of the
next proxy issue replaces it by implementing the same protocol (XA PREPARE everywhere, decision recorded by
the coordinator, then XA COMMIT).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from dbproxy.errors import BackendError, BackendUnavailable, PartialCommit, ProxyError
from dbproxy.executor.backend import BackendConnection
from dbproxy.executor.pool import Pools


class Committer(Protocol):
    async def commit(self, branches: list[BackendConnection]) -> None: ...

    async def rollback(self, branches: list[BackendConnection]) -> None: ...


class SequentialCommitter:
    """Commit one backend after another (one backend: a plain local commit, which is atomic).

    Before the first COMMIT every branch is pinged, so a backend lost during the transaction rolls the whole
    transaction back instead of committing the others; a backend failing between that check and its own
    COMMIT still leaves a partial commit, which only the coordinator (XA) can prevent.
    """

    async def commit(self, branches: list[BackendConnection]) -> None:
        if len(branches) > 1:
            checks = await asyncio.gather(*(c.ping() for c in branches), return_exceptions=True)
            failed = [(c, e) for c, e in zip(branches, checks, strict=True) if isinstance(e, BaseException)]
            if failed:
                await self.rollback(branches)
                conn, exc = failed[0]
                detail = exc.message if isinstance(exc, ProxyError) else str(exc)
                raise ProxyError(
                    f"COMMIT refused: backend '{conn.name}' lost its part of the transaction ({detail}); "
                    "the whole transaction was rolled back",
                    code=1180,
                )
        done: list[str] = []
        for i, conn in enumerate(branches):
            try:
                await conn.execute("COMMIT")
            except (BackendError, BackendUnavailable) as exc:
                rest = branches[i + 1 :]
                await self.rollback(rest)
                if not done:
                    # nothing committed yet: the whole transaction is rolled back, which is consistent
                    raise ProxyError(
                        f"COMMIT failed on backend '{conn.name}' ({exc.message}); the transaction was rolled back",
                        code=exc.code if isinstance(exc, BackendError) else 1180,
                    ) from exc
                raise PartialCommit(
                    f"COMMIT failed on backend '{conn.name}' ({exc.message}) after backends {', '.join(done)} "
                    "committed: the transaction is partially committed (multi-backend commit is not atomic yet)"
                ) from exc
            done.append(conn.name)

    async def rollback(self, branches: list[BackendConnection]) -> None:
        async def one(conn: BackendConnection) -> None:
            if conn.broken:
                return
            try:
                await conn.execute("ROLLBACK")
            except ProxyError:
                conn.close()  # closing the connection makes the server roll back

        await asyncio.gather(*(one(c) for c in branches))


class SessionTransaction:
    """The transaction state of one client session: which backend connections it holds."""

    def __init__(self, pools: Pools, committer: Committer) -> None:
        self.pools = pools
        self.committer = committer
        self.active = False
        self.begin_sql = "BEGIN"
        self.pinned: dict[str, BackendConnection] = {}
        self.lost: str | None = None  # a backend whose connection died mid-transaction

    def begin(self, sql: str = "BEGIN") -> None:
        self.active = True
        self.begin_sql = sql

    async def connection(
        self, backend: str, found_rows: bool, charset: int, session_vars: tuple[str, ...]
    ) -> BackendConnection:
        """The pinned connection for ``backend``, opening its branch (BEGIN) on first use."""
        conn = self.pinned.get(backend)
        if conn is not None:
            if conn.broken:
                self.lost = backend
                raise BackendUnavailable(backend, "connection lost during the transaction; ROLLBACK required")
            return conn
        if self.lost is not None:
            raise BackendUnavailable(self.lost, "connection lost during the transaction; ROLLBACK required")
        conn = await self.pools[backend].acquire(found_rows, charset, session_vars)
        conn.send_pipelined(self.begin_sql)  # its OK is read with the first statement's response
        conn.in_transaction = True
        self.pinned[backend] = conn
        return conn

    def _finish(self) -> list[BackendConnection]:
        branches = list(self.pinned.values())
        self.pinned.clear()
        self.active = False
        self.lost = None
        return branches

    def _release(self, branches: list[BackendConnection]) -> None:
        for conn in branches:
            conn.in_transaction = False
            self.pools[conn.name].release(conn)

    async def commit(self) -> None:
        lost = self.lost or next((c.name for c in self.pinned.values() if c.broken), None)
        branches = self._finish()
        try:
            if lost is not None:
                await self.committer.rollback(branches)
                raise BackendUnavailable(lost, "connection lost during the transaction; it was rolled back")
            await self.committer.commit(branches)
        finally:
            self._release(branches)

    async def rollback(self) -> None:
        branches = self._finish()
        try:
            await self.committer.rollback(branches)
        finally:
            self._release(branches)
