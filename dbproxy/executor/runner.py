"""What plans execute against: one client session's connections, state and client channel (Vitess calls this
the cursor of its engine primitives). The runner hands out backend connections (the transaction's pinned ones,
the session's held ones, or pooled), relays a statement's answer to the client, runs statements on several nodes
at once and answers with their decoded results; each plan (``executor/plans/``) decides what to run where."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine, Sequence
from typing import Any

from dbproxy.backends.connection import (
    DEADLOCK_MESSAGE,
    ER_LOCK_WAIT_TIMEOUT,
    BackendConnection,
    RelayOutcome,
    Result,
)
from dbproxy.errors import BackendError, BackendUnavailable, ProxyError, UnknownDatabase, database_denied
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.context import ProxyContext
from dbproxy.executor.state import SessionState
from dbproxy.merge import MergeSpec, in_column_charsets, merge_results
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.physical_names import PhysicalNames
from dbproxy.router.targets import Target

ER_LOCK_DEADLOCK = 1213


def _logical_column(column: Column, names: PhysicalNames) -> Column:
    raw = names.column_definition(column.raw) if column.raw is not None else None
    return column if raw is None else dataclasses.replace(column, raw=raw)


class Runner:
    __slots__ = ("answer_database", "client", "ctx", "hold", "ran_on", "state")

    def __init__(self, ctx: ProxyContext, state: SessionState, client: ClientChannel) -> None:
        self.ctx = ctx
        self.state = state
        self.client = client
        self.hold = False  # the running statement leaves session state: its connections stay with the session
        self.ran_on = 0  # how many nodes the last routed statement ran on (0: none known), for its metrics
        # the logical database the running statement reads or writes (None: the session's); its answers and
        # errors may name that database's physical names
        self.answer_database: str | None = None

    @property
    def identity(self) -> tuple[str, str]:
        """The client's user and address, as access errors name them."""
        return self.state.user, self.state.host

    def physical_names(self) -> PhysicalNames | None:
        """Physical -> logical names for the running statement's answers and errors."""
        return self.ctx.schema.physical_names(self.answer_database or self.state.database)

    def use(self, name: str) -> None:
        db = self.ctx.schema.get(name.strip("`"))
        if db is None or not self.state.may_use(db.name):
            # a database the user may not use is as unknown to it as one that does not exist: MySQL says 1044
            raise (
                database_denied(name)
                if db is not None or self.state.grants is not None
                else UnknownDatabase(f"Unknown database '{name}'")
            )
        self.state.database = db.name

    def default_backend(self) -> str:
        return self.ctx.default_backend(self.state.database)

    async def end_session(self) -> None:
        """The client is gone (or reset its connection): a transaction it left open is rolled back on every
        branch, and connections holding its session state go back to the pool reset."""
        txn = self.state.txn
        if txn.active or txn.pinned:
            await txn.rollback()
        if txn.held:
            await txn.release_held()

    async def commit_open(self) -> None:
        """Commit the client's open transaction, if any (what BEGIN, DDL and autocommit=1 do in MySQL)."""
        if self.state.txn.active:
            await self.state.txn.commit()

    async def conn(self, backend: str, begin: bool = True) -> tuple[BackendConnection, bool]:
        """A backend connection for one statement; inside a transaction the pinned one."""
        state = self.state
        txn = state.txn
        if begin and not state.autocommit and not txn.active:
            txn.begin()
        if txn.active and (begin or backend in txn.pinned):
            branch = await txn.connection(backend, state.found_rows, state.charset, state.variables)
            if self.hold:
                txn.hold(branch)  # kept past COMMIT: the state outlives the transaction
            return branch, True
        if txn.held:
            held = txn.held.get(backend)
            if held is not None:
                if held.broken:
                    # what the session kept there (variables, temporary tables, locks) is gone with it: said
                    # once, rather than running later statements on a fresh connection as if nothing happened
                    del txn.held[backend]
                    self.state.txn.pools[backend].discard(held)
                    raise BackendUnavailable(
                        backend, "connection lost; the session's user variables, temporary tables and locks are gone"
                    )
                return held, True
        pool = self.state.txn.pools[backend]
        conn = pool.try_acquire(state.found_rows, state.charset, state.variables)
        if conn is None:
            conn = await pool.acquire(state.found_rows, state.charset, state.variables)
        if self.hold:
            txn.hold(conn)
            return conn, True
        return conn, False

    def _cross_backend_bound(self, backend: str) -> int | None:
        bound = self.ctx.config.transactions.cross_backend_lock_wait
        txn = self.state.txn
        if bound is None or not txn.committer.xa or not any(b != backend for b in txn.pinned):
            return None
        return bound

    def done(self, conn: BackendConnection, pinned: bool) -> None:
        if not pinned:
            self.state.txn.pools[conn.name].release(conn)

    async def relay(
        self,
        target: Target,
        params: Sequence[ParamValue],
        req: ExecuteRequest | None,
        retry_read: bool = False,
        begin: bool = True,
        bounded: bool = False,
    ) -> None:
        """Run ``target``'s statement on its node and stream the answer to the client as the backend sends it."""
        conn, pinned = await self.conn(target.backend, begin)
        # Holding a branch on another backend, a lock wait may be half of a deadlock no server can see: it is
        # bounded by transactions.cross_backend_lock_wait and then ends the whole transaction as a deadlock.
        bound = self._cross_backend_bound(target.backend) if bounded and pinned else None
        try:
            if req is None:
                text = target.template.render(params, self.state.slots)
                if bound is not None:
                    text = f"SET STATEMENT innodb_lock_wait_timeout={bound} FOR {text}"
                command = b"\x03" + text.encode("utf-8", "surrogateescape")
            else:
                sql = target.prepared_sql
                if bound is not None:
                    sql = f"SET STATEMENT innodb_lock_wait_timeout={bound} FOR {sql}"
                cached = conn.statements.get(sql)
                stmt_id, nparams = (cached[0], cached[1]) if cached else await conn.prepare(sql)
                command = conn.execute_command(stmt_id, nparams, req.null_bitmap, req.types, req.raw_values)
            names = self.physical_names()
            outcome: RelayOutcome = await conn.relay(
                command, self.client.writer, self.state.status, bound is not None, names, self.identity
            )
        except BackendUnavailable:
            # A pooled connection the server closed while idle (wait_timeout, restart) fails on first use; a read
            # outside a transaction is safe to run once more on a fresh connection. Writes are never retried.
            if pinned or not retry_read:
                raise
            self.done(conn, pinned)
            await self.relay(target, params, req, retry_read=False)
            return
        finally:
            self.done(conn, pinned)
        if outcome.insert_id:
            self.state.last_insert_id = outcome.insert_id
        if outcome.error == ER_LOCK_DEADLOCK and pinned:
            await self.deadlocked()

    async def deadlocked(self) -> None:
        """The backend rolled its branch back after a deadlock; in MySQL the whole transaction is gone then, so
        the other branches go too (committing them later would keep half a transaction)."""
        if self.state.txn.active:
            await self.state.txn.rollback()

    async def atomically(self, work: Coroutine[Any, Any, list[Result]]) -> list[Result]:
        """Run a write that spans several nodes as one statement would run in MySQL: all or nothing. Outside a
        client transaction it gets its own (committed through the same Committer as client transactions)."""
        if self.state.txn.active or not self.state.autocommit:
            return await work  # already inside the client's transaction (autocommit=0 opens one implicitly)
        self.state.txn.begin()
        try:
            results = await work
        except BaseException:
            await self.state.txn.rollback()
            raise
        await self.state.txn.commit()
        return results

    def reply(
        self, results: list[Result], params: Sequence[ParamValue], binary: bool, merge: MergeSpec | None = None
    ) -> None:
        """Answer the client with decoded results: their summed counts, or their rows (merged by ``merge``)."""
        first = results[0]
        if first.ok is not None or not first.columns:
            affected = sum(r.ok.affected for r in results if r.ok is not None)
            insert_id = next((r.ok.insert_id for r in results if r.ok is not None and r.ok.insert_id), 0)
            if insert_id:
                self.state.last_insert_id = insert_id
            self.client.ok(affected, insert_id)
            return
        if merge is not None and len(results) > 1:
            # the shards' rows came in their columns' own character sets (run_text with merge)
            columns, rows = merge_results(merge, first.columns, [r.rows for r in results], params, self.state.charset)
        else:
            columns = first.columns
            rows = [row for r in results for row in r.rows]
        names = self.physical_names()
        if names is not None:
            columns = [_logical_column(c, names) for c in columns]
        self.client.result(columns, rows, binary)

    async def run_text(
        self,
        targets: Sequence[Target],
        nodes: list[int],
        params: Sequence[ParamValue],
        merge: MergeSpec | None = None,
        begin: bool = True,
        bounded: bool = True,
    ) -> list[Result]:
        """Run the statements of ``targets[n]`` for each of ``nodes`` as text and decode the results (their merge
        statements, if ``merge``); backends run in parallel, the nodes of one backend one after another on one
        connection. ``bounded``: a scatter's lock waits are bounded inside an XA transaction."""
        named = self.state.slots  # the session's USER()/CONNECTION_ID() values (router/session_functions.py)
        if merge is not None:
            limit, offset = merge.bounds(params)
            if limit is not None:
                named = {**named, "__dbp_limit__": str(limit + offset)}
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(targets[n].backend, []).append(n)
        results: dict[int, Result] = {}
        # inside a transaction a scatter holds branches on several backends while it waits: its lock waits are
        # bounded like a routed statement's, and one that times out ends the whole transaction as a deadlock
        bound = self._scatter_bound(by_backend) if bounded and len(nodes) > 1 else None
        prefix = f"SET STATEMENT innodb_lock_wait_timeout={bound} FOR " if bound is not None else ""

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self.conn(backend, begin=begin)
            try:
                for n in idxs:
                    target = targets[n]
                    template = target.merge_template if merge is not None and target.merge_template else target.template
                    sql = prefix + template.render(params, named)
                    if merge is not None:  # compared by each column's collation, which only this way shows
                        sql = in_column_charsets(sql)
                    results[n] = await conn.query(sql.encode("utf-8", "surrogateescape"))
            finally:
                self.done(conn, pinned)

        outcomes = await asyncio.gather(*(run(b, i) for b, i in by_backend.items()), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            for e in errors:
                if not isinstance(e, ProxyError):
                    raise e
            if self.state.txn.active and any(
                isinstance(e, BackendError) and e.code in (ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT) for e in errors
            ):
                await self.deadlocked()
                raise ProxyError(DEADLOCK_MESSAGE, code=ER_LOCK_DEADLOCK, sqlstate="40001")
            raise next((e for e in errors if isinstance(e, BackendUnavailable)), errors[0])
        return [results[n] for n in nodes]

    def _scatter_bound(self, by_backend: dict[str, list[int]]) -> int | None:
        """The lock-wait bound of a scatter inside an XA transaction (None: not bounded)."""
        txn = self.state.txn
        bound = self.ctx.config.transactions.cross_backend_lock_wait
        if bound is None or not txn.committer.xa or not (txn.active or not self.state.autocommit):
            return None
        return bound if len(by_backend) > 1 or any(b not in by_backend for b in txn.pinned) else None

    async def run_statements(self, targets: Sequence[Target], statements: dict[int, str]) -> list[Result]:
        """Run one text statement per node (``statements``: node -> SQL) and decode the results, in node order."""
        by_backend: dict[str, list[int]] = {}
        for n in statements:
            by_backend.setdefault(targets[n].backend, []).append(n)
        by_node: dict[int, Result] = {}

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self.conn(backend)
            try:
                for n in idxs:
                    by_node[n] = await conn.query(statements[n].encode("utf-8", "surrogateescape"))
            finally:
                self.done(conn, pinned)

        outcomes = await asyncio.gather(*(run(b, i) for b, i in by_backend.items()), return_exceptions=True)
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
        return [by_node[n] for n in sorted(by_node)]
