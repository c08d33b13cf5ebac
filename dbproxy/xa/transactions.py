"""Client transactions over backend connections.

A session pins one backend connection per backend it touches while a transaction is open. Ending the
transaction goes through ``Committer``: the one place where a multi-backend commit happens. With a coordinator
configured that is ``dbproxy.xa.commit.XaCommitter``: every branch is opened as an XA branch (``XA START``
instead of ``BEGIN``, pipelined the same way, so it costs no round trip), and at COMMIT a transaction that
wrote on one backend commits it in one phase (``XA COMMIT ... ONE PHASE``), one that wrote on several is
committed atomically, decided inside one of them (``dbproxy.xa.commit``). ``SequentialCommitter`` (one
backend, or the explicit ``transactions.mode: best_effort``) commits each backend in turn, which is NOT atomic
(a failure after the first commit leaves the others committed and is reported as PartialCommit).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from dbproxy.backends.connection import BackendConnection
from dbproxy.backends.pool import Pools
from dbproxy.errors import BackendError, BackendUnavailable, PartialCommit, ProxyError, commit_lost
from dbproxy.xa.statements import Xid, start_sql

_PLAIN_BEGIN = {"BEGIN", "BEGIN WORK", "START TRANSACTION", "START TRANSACTION READ WRITE"}


@dataclass(slots=True)
class BackendBranch:
    """One backend's part of a client transaction."""

    conn: BackendConnection
    xid: Xid | None  # set when the branch was opened with XA START
    wrote: bool  # a statement that may change rows ran on it (read-only branches need no prepare)

    @property
    def name(self) -> str:
        return self.conn.name


class Committer(Protocol):
    # True: branches are opened as XA branches of the global transaction ``gid`` (see SessionTransaction)
    xa: bool
    service: str

    def new_gid(self) -> str: ...

    async def commit(self, gid: str | None, branches: list[BackendBranch]) -> None: ...

    async def rollback(self, branches: list[BackendBranch]) -> None: ...


class SequentialCommitter:
    """Commit one backend after another (one backend: a plain local commit, which is atomic).

    Before the first COMMIT every branch is pinged, so a backend lost during the transaction rolls the whole
    transaction back instead of committing the others; a backend failing between that check and its own
    COMMIT still leaves a partial commit, which only the coordinator (XA) can prevent.
    """

    xa = False
    service = ""

    def new_gid(self) -> str:
        raise NotImplementedError("SequentialCommitter opens no global transactions")

    async def commit(self, gid: str | None, txn_branches: list[BackendBranch]) -> None:
        branches = [b.conn for b in txn_branches]
        if len(branches) > 1:
            checks = await asyncio.gather(*(c.ping() for c in branches), return_exceptions=True)
            failed = [(c, e) for c, e in zip(branches, checks, strict=True) if isinstance(e, BaseException)]
            if failed:
                await self.rollback_connections(branches)
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
                await self.rollback_connections(rest)
                if not done and isinstance(exc, BackendUnavailable):
                    raise commit_lost(conn.name, exc) from exc  # sent, unanswered: it may have committed
                if not done:
                    # the backend refused it and nothing committed before: the whole transaction is rolled back
                    raise ProxyError(
                        f"COMMIT failed on backend '{conn.name}' ({exc.message}); the transaction was rolled back",
                        code=exc.code,
                    ) from exc
                raise PartialCommit(
                    f"COMMIT failed on backend '{conn.name}' ({exc.message}) after backends {', '.join(done)} "
                    "committed: the transaction is partially committed (multi-backend commit is not atomic yet)"
                ) from exc
            done.append(conn.name)

    async def rollback(self, branches: list[BackendBranch]) -> None:
        await self.rollback_connections([b.conn for b in branches])

    @staticmethod
    async def rollback_connections(branches: list[BackendConnection]) -> None:
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
        self.gid: str | None = None  # the global transaction its XA branches belong to
        self.xids: dict[str, Xid] = {}
        self.decider = ""  # the backend of its first XA branch: where a multi-backend commit is decided
        self.written: set[str] = set()
        # backend -> the connection holding this session's own state there (executor/affinity.py): used by
        # every statement of the session on that backend, transactions included, and reset before reuse
        self.held: dict[str, BackendConnection] = {}
        # set by the session before each statement: whether it may change rows (then the backends it runs on
        # are branches that must be prepared, not just ended)
        self.writing = False

    def begin(self, sql: str = "BEGIN") -> None:
        self.active = True
        self.begin_sql = sql

    def _uses_xa(self) -> bool:
        # READ ONLY transactions cannot write, so they never need two phases; XA START takes no options
        return self.committer.xa and " ".join(self.begin_sql.upper().split()) in _PLAIN_BEGIN

    async def connection(
        self, backend: str, found_rows: bool, charset: int, session_vars: tuple[str, ...]
    ) -> BackendConnection:
        """The pinned connection for ``backend``, opening its branch (BEGIN) on first use."""
        if self.writing:
            self.written.add(backend)
        conn = self.pinned.get(backend)
        if conn is not None:
            if conn.broken:
                self.lost = backend
                raise BackendUnavailable(backend, "connection lost during the transaction; ROLLBACK required")
            return conn
        if self.lost is not None:
            raise BackendUnavailable(self.lost, "connection lost during the transaction; ROLLBACK required")
        conn = self.held.get(backend) or await self.pools[backend].acquire(found_rows, charset, session_vars)
        if self._uses_xa():
            # lazily XA: the first statement cannot know whether a second backend will follow, and MySQL
            # cannot turn a local transaction into an XA branch later; XA START costs what BEGIN costs
            if self.gid is None:
                # the first backend is the decider: every later branch's xid names it, for recovery
                self.gid, self.decider = self.committer.new_gid(), backend
            xid = self.xids[backend] = Xid.of(self.gid, self.committer.service, backend, self.decider)
            conn.send_pipelined(start_sql(xid))
        else:
            conn.send_pipelined(self.begin_sql)  # its OK is read with the first statement's response
        conn.in_transaction = True
        self.pinned[backend] = conn
        return conn

    def _finish(self) -> list[BackendBranch]:
        branches = [BackendBranch(c, self.xids.get(name), name in self.written) for name, c in self.pinned.items()]
        self.pinned.clear()
        self.xids = {}
        self.written = set()
        self.active = False
        self.lost = None
        return branches

    def _release(self, branches: list[BackendBranch]) -> None:
        for branch in branches:
            conn = branch.conn
            conn.in_transaction = False
            if self.held.get(conn.name) is not conn:
                self.pools[conn.name].release(conn)

    def hold(self, conn: BackendConnection) -> None:
        """Keep ``conn`` for this session: a statement left session state on it."""
        self.held[conn.name] = conn

    async def release_held(self) -> None:
        """The session ends (or resets): its held connections go back to their pools reset, so no other
        session sees what it left there."""
        held, self.held = list(self.held.values()), {}
        for conn in held:
            await self.pools[conn.name].release_reset(conn)

    async def commit(self) -> None:
        lost = self.lost or next((c.name for c in self.pinned.values() if c.broken), None)
        gid, self.gid = self.gid, None
        branches = self._finish()
        try:
            if lost is not None:
                await self.committer.rollback(branches)
                raise BackendUnavailable(lost, "connection lost during the transaction; it was rolled back")
            await self.committer.commit(gid, branches)
        finally:
            self._release(branches)

    async def rollback(self) -> None:
        self.gid = None
        branches = self._finish()
        try:
            await self.committer.rollback(branches)
        finally:
            self._release(branches)
