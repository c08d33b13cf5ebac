"""Running planned statements for one client session: relay to one node, scatter and merge, split inserts,
all-or-nothing multi-node writes, transaction and session statements. The session owns one executor; the
executor works on the session's state, writes to its client channel and uses the shared proxy context."""

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
from dbproxy.context import ProxyContext
from dbproxy.errors import (
    BackendError,
    BackendUnavailable,
    NotSupported,
    ProxyError,
    UnknownDatabase,
    database_denied,
    table_denied,
)
from dbproxy.executor.affinity import SESSION_STATE
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.local import run_local
from dbproxy.executor.state import SessionState
from dbproxy.merge import in_column_charsets, merge_results
from dbproxy.protocol.charsets import CHARSET_COLLATIONS
from dbproxy.protocol.constants import ColumnType, ServerStatus
from dbproxy.protocol.packets import Column, eof_payload, frame
from dbproxy.protocol.params import ExecuteRequest, ParamValue, sql_literal
from dbproxy.router.dialects import reading_of_sql_mode
from dbproxy.router.physical_names import PhysicalNames
from dbproxy.router.plan import Kind, Plan, Target

ER_LOCK_DEADLOCK = 1213
_NO_BACKSLASH = int(ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES)
_ROUTE = Kind.ROUTE


def _logical(value: bytes | None, names: dict[bytes, bytes], quoted: list[tuple[bytes, bytes]]) -> bytes | None:
    """A value of an answer about tables, with physical names made logical: whole values (a Name column) and
    quoted names inside text (SHOW CREATE TABLE, a view's definition)."""
    if value is None:
        return None
    mapped = names.get(value)
    if mapped is not None:
        return mapped
    if b"`" in value:
        for physical, logical in quoted:
            value = value.replace(physical, logical)
    return value


def _logical_column(column: Column, names: PhysicalNames) -> Column:
    raw = names.column_definition(column.raw) if column.raw is not None else None
    return column if raw is None else dataclasses.replace(column, raw=raw)


class StatementExecutor:
    __slots__ = ("client", "ctx", "hold", "state")

    def __init__(self, ctx: ProxyContext, state: SessionState, client: ClientChannel) -> None:
        self.ctx = ctx
        self.state = state
        self.client = client
        self.hold = False  # the running statement leaves session state: its connections stay with the session

    async def execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """Run one planned statement and send its answer to the client."""
        kind = plan.kind
        state = self.state
        if state.grants is not None and plan.database is not None:
            self._check_grant(plan)
        # backends a changing statement runs on become branches that need two-phase commit
        state.txn.writing = kind is Kind.INSERT or (kind is _ROUTE and not plan.is_read)
        if SESSION_STATE in plan.extra and kind is not Kind.SET:  # SET is replayed instead
            self.hold = True  # the connections this statement runs on stay with the session
            try:
                await self._execute(plan, params, req)
            finally:
                self.hold = False
        elif kind is _ROUTE:
            await self._route(plan, params, req)
        else:
            await self._execute(plan, params, req)

    async def _execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        kind = plan.kind
        state = self.state
        if kind is _ROUTE:
            await self._route(plan, params, req)
        elif kind is Kind.INSERT:
            await self._insert(plan, params, req)
        elif kind is Kind.BEGIN:
            if state.txn.active:
                await state.txn.commit()  # BEGIN inside a transaction commits it, as in MySQL
            state.txn.begin(str(plan.extra.get("sql") or "BEGIN"))
            self.client.ok()
        elif kind is Kind.COMMIT:
            if state.txn.active:
                await state.txn.commit()
            self.client.ok()
        elif kind is Kind.ROLLBACK:
            if state.txn.active:
                await state.txn.rollback()
            self.client.ok()
        elif kind is Kind.SET:
            await self._set(plan)
        elif kind is Kind.USE:
            self.use(str(plan.extra["db"]))
            self.client.ok()
        else:
            await run_local(self, plan, req is not None)

    def _check_grant(self, plan: Plan) -> None:
        grants = self.state.grants
        assert grants is not None and plan.database is not None
        read_write = grants.get(plan.database.lower())
        if read_write is None:
            raise database_denied(plan.database)
        if plan.writes and not read_write:
            raise table_denied(plan.command or "UPDATE", plan.database, plan.table or "*")

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

    async def _set(self, plan: Plan) -> None:
        state = self.state
        rest = plan.extra.get("rest")
        if isinstance(rest, str):
            # validate on a backend, then remember: every backend connection this session uses replays it
            conn, pinned = await self.conn(self.default_backend(), begin=False)
            try:
                mode_before = await self._sql_mode(conn) if "sql_mode" in rest.lower() else None
                await conn.execute(rest)
                conn.session_vars = (*state.variables, rest)
                if mode_before is not None:
                    mode = await self._sql_mode(conn)
                    try:
                        # the next statements are read as MariaDB reads them under the new mode
                        state.reading = reading_of_sql_mode(mode)
                    except NotSupported:
                        await conn.execute(f"SET SESSION sql_mode = '{mode_before}'")
                        conn.session_vars = state.variables
                        raise
                    # the client learns NO_BACKSLASH_ESCAPES from the status flags: it changes how it escapes
                    state.mode_status = _NO_BACKSLASH if state.reading.no_backslash_escapes else 0
            finally:
                self.done(conn, pinned)
            state.variables = (*state.variables, rest)
            for other in {*state.txn.pinned.values(), *state.txn.held.values()}:
                if other is not conn:
                    await other.execute(rest)
                    other.session_vars = state.variables
        charset = plan.extra.get("charset")
        if isinstance(charset, str):
            await self._set_names(charset)
        wait_timeout = plan.extra.get("wait_timeout")
        if isinstance(wait_timeout, int):
            state.wait_timeout = wait_timeout
        autocommit = plan.extra.get("autocommit")
        if autocommit is not None:
            if autocommit and not state.autocommit and state.txn.active:
                await state.txn.commit()
            state.autocommit = bool(autocommit)
        self.client.ok()

    @staticmethod
    async def _sql_mode(conn: BackendConnection) -> str:
        value = (await conn.query("SELECT @@SESSION.sql_mode")).rows[0][0] or b""
        return value.decode("ascii", "replace").replace("'", "")  # flag names: letters, digits, _ and commas

    async def _set_names(self, name: str) -> None:
        """SET NAMES/CHARACTER SET: backend connections of this session are opened (or picked idle) with the
        new character set from now on, as the handshake's collation would; pinned ones switch in place."""
        collation = CHARSET_COLLATIONS.get(name.strip("'\"`").lower())
        if collation is None:
            raise ProxyError(f"Unknown character set: '{name}'", code=1115, sqlstate="42000")
        self.state.charset = collation
        for conn in {*self.state.txn.pinned.values(), *self.state.txn.held.values()}:
            await conn.execute(f"SET NAMES {name.strip(chr(39) + chr(34) + chr(96))}")
            conn.key = (conn.key[0], conn.key[1], collation)

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
            names = self.ctx.schema.physical_names(self.state.database)
            outcome: RelayOutcome = await conn.relay(
                command, self.client.writer, self.state.status, bound is not None, names
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

    async def _route(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        if plan.implicit_commit:
            if self.state.txn.active:
                await self.state.txn.commit()
            ddl_table = plan.extra.get("ddl_table")
            if isinstance(ddl_table, str):
                self.ctx.keys.forget((self.state.database or "", ddl_table))
        nodes = plan.choose(params) or [0]
        labels = plan.extra.get("explain")
        if isinstance(labels, list):
            await self._explain(plan, labels, nodes, params, req)
            return
        if plan.extra.get("system"):
            await self._system_query(plan, params, req)
            return
        if len(nodes) == 1:
            target = plan.targets[nodes[0]]
            if req is None or target.relayable:
                # DDL commits implicitly: it never opens a transaction, even with autocommit off
                await self.relay(
                    target, params, req, retry_read=plan.is_read, begin=not plan.implicit_commit, bounded=True
                )
                return
            nodes_results = await self._run_text(plan, nodes, params, merge=False)
            self._reply(plan, nodes_results, params, binary=True)
            return
        if plan.merge_error is not None:
            raise plan.merge_error
        if plan.merge is not None and plan.merge.concatenation and (req is None or plan.targets[0].relayable):
            await self._concatenate(plan, nodes, params, req)
            return
        if plan.is_read or plan.implicit_commit:
            results = await self._run_text(plan, nodes, params, merge=plan.merge is not None)
        else:
            results = await self._atomically(self._run_text(plan, nodes, params, merge=False))
        if plan.extra.get("broadcast_write"):
            results = results[:1]  # every copy changed the same rows: report one copy's counts
        self._reply(plan, results, params, binary=req is not None)

    async def _system_query(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """information_schema and friends, answered by the default backend, with physical names translated
        to logical ones (rows that become identical, like two shards of one table, are shown once)."""
        db = self.ctx.schema.get(self.state.database)
        (result,) = await self._run_text(plan, [0], params, merge=False)
        if db is None or not result.columns:
            self._reply(plan, [result], params, binary=req is not None)
            return
        given = plan.extra.get("names")
        names: dict[bytes, bytes] = given if isinstance(given, dict) else db.logical_names()
        quoted = [(b"`" + p + b"`", b"`" + q + b"`") for p, q in names.items() if p != q]
        rows: list[list[bytes | None]] = []
        seen: set[tuple[bytes | None, ...]] = set()
        for row in result.rows:
            mapped = [_logical(v, names, quoted) for v in row]
            key = tuple(mapped)
            if key not in seen:
                seen.add(key)
                rows.append(mapped)
        self.client.result(result.columns, rows, req is not None)

    async def _explain(
        self,
        plan: Plan,
        labels: list[str],
        nodes: list[int],
        params: Sequence[ParamValue],
        req: ExecuteRequest | None,
    ) -> None:
        """EXPLAIN of each node the statement would run on, rows labelled by node in a first column."""
        results = await self._run_text(plan, nodes, params, merge=False)
        first = results[0]
        if not first.columns:
            self._reply(plan, results, params, binary=req is not None)
            return
        columns = [Column("node", ColumnType.VAR_STRING, 45, 256), *first.columns]
        rows = [[labels[n].encode(), *row] for n, result in zip(nodes, results, strict=True) for row in result.rows]
        self.client.result(columns, rows, req is not None)

    async def _atomically(self, work: Coroutine[Any, Any, list[Result]]) -> list[Result]:
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

    async def _concatenate(
        self, plan: Plan, nodes: list[int], params: Sequence[ParamValue], req: ExecuteRequest | None
    ) -> None:
        """A scatter whose answer is every shard's rows in turn: rows are copied, never decoded, and stream to
        the client node after node (each backend's first statement is sent at once, the next when the one
        before it was read), so a slow reader holds the client buffer, not the result."""
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
        conns: dict[str, tuple[BackendConnection, bool]] = {}
        unread: dict[str, int] = {}  # backend -> node whose statement was sent and whose answer is not read yet

        async def send(backend: str, n: int) -> None:
            conn = conns[backend][0]
            target = plan.targets[n]
            if req is None:
                text = target.template.render(params, self.state.slots)
                command = b"\x03" + text.encode("utf-8", "surrogateescape")
            else:
                stmt_id, nparams = await conn.prepare(target.prepared_sql)
                command = conn.execute_command(stmt_id, nparams, req.null_bitmap, req.types, req.raw_values)
            conn.send(command)
            unread[backend] = n

        names = self.ctx.schema.physical_names(self.state.database)
        try:
            for backend in by_backend:
                conns[backend] = await self.conn(backend)
            for backend, idxs in by_backend.items():
                await send(backend, idxs[0])
            seq = 1
            out = self.client.writer
            for n in nodes:
                backend = plan.targets[n].backend
                del unread[backend]  # read now: whatever happens, this answer is consumed or its connection closed
                seq = await conns[backend][0].stream_result(out, seq, seq > 1, self.state.status, names)
                if seq < 0:
                    return  # the answer ended with an error
                following = by_backend[backend].index(n) + 1
                if following < len(by_backend[backend]):
                    await send(backend, by_backend[backend][following])
            out.write(frame(eof_payload(self.state.status), seq))
        finally:
            for backend, (conn, pinned) in conns.items():
                if backend in unread and not conn.broken:
                    try:
                        await conn.discard_result()  # an answer nobody reads must not reach the next user
                    except ProxyError:
                        conn.close()
                self.done(conn, pinned)

    def _reply(self, plan: Plan, results: list[Result], params: Sequence[ParamValue], binary: bool) -> None:
        first = results[0]
        if first.ok is not None or not first.columns:
            affected = sum(r.ok.affected for r in results if r.ok is not None)
            insert_id = next((r.ok.insert_id for r in results if r.ok is not None and r.ok.insert_id), 0)
            if insert_id:
                self.state.last_insert_id = insert_id
            self.client.ok(affected, insert_id)
            return
        if plan.merge is not None and len(results) > 1:
            # the shards' rows came in their columns' own character sets (_run_text with merge)
            columns, rows = merge_results(
                plan.merge, first.columns, [r.rows for r in results], params, self.state.charset
            )
        else:
            columns = first.columns
            rows = [row for r in results for row in r.rows]
        names = self.ctx.schema.physical_names(self.state.database)
        if names is not None:
            columns = [_logical_column(c, names) for c in columns]
        self.client.result(columns, rows, binary)

    async def _run_text(self, plan: Plan, nodes: list[int], params: Sequence[ParamValue], merge: bool) -> list[Result]:
        """Run the plan's statement on ``nodes`` as text and decode the results; backends run in parallel,
        the nodes of one backend one after another on one connection."""
        named = self.state.slots  # the session's USER()/CONNECTION_ID() values (router/session_functions.py)
        if merge and plan.merge is not None:
            limit, offset = plan.merge.bounds(params)
            if limit is not None:
                named = {**named, "__dbp_limit__": str(limit + offset)}
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
        results: dict[int, Result] = {}
        # inside a transaction a scatter holds branches on several backends while it waits: its lock waits are
        # bounded like a routed statement's, and one that times out ends the whole transaction as a deadlock
        scatter = len(nodes) > 1 and not plan.implicit_commit and not plan.extra.get("explain")
        bound = self._scatter_bound(by_backend) if scatter else None
        prefix = f"SET STATEMENT innodb_lock_wait_timeout={bound} FOR " if bound is not None else ""

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self.conn(backend, begin=not plan.implicit_commit)
            try:
                for n in idxs:
                    target = plan.targets[n]
                    template = target.merge_template if merge and target.merge_template else target.template
                    sql = prefix + template.render(params, named)
                    if merge:  # compared by each column's collation, which only this way shows in the metadata
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

    async def _insert(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        rule = plan.rule
        assert rule is not None
        rows = plan.insert_rows
        table = (self.state.database or "", plan.key_table or "")
        keys: list[object] = [row.key.get(params) if row.key is not None else None for row in rows]
        generate = [plan.key_table is not None and (k is None or k == 0 or k == b"0") for k in keys]
        first_generated = 0
        if any(generate):
            first_generated = await self.ctx.keys.allocate(table, sum(generate), lambda: self._max_key(plan))
            n = first_generated
            for i, g in enumerate(generate):
                if g:
                    keys[i] = n
                    n += 1
        nodes: list[int] = []
        for k in keys:
            node = rule.node_of(k)
            if node is None:
                raise NotSupported(f"a shard-key value ({k!r}) that cannot be placed on a shard")
            nodes.append(node)
            if plan.key_table and isinstance(k, int):
                self.ctx.keys.observe(table, k)
        if not any(generate) and len(set(nodes)) == 1:
            target = plan.targets[nodes[0]]
            if req is None or target.relayable:
                await self.relay(target, params, req, bounded=True)
                return
        # split: one multi-row INSERT per node
        per_node: dict[int, list[str]] = {}
        for row, key, gen, node in zip(rows, keys, generate, nodes, strict=True):
            row_params: Sequence[ParamValue] = params
            key_text = sql_literal(key) if not isinstance(key, str) else key  # type: ignore[arg-type]
            if gen and row.key is not None and row.key.param is not None:
                row_params = list(params)
                row_params[row.key.param] = key  # type: ignore[call-overload]
            text = row.per_node[0].render(row_params, {"key": key_text})
            if plan.key_column is not None:
                text = "(" + key_text + ", " + text[1:]
            per_node.setdefault(node, []).append(text)
        statements: dict[int, str] = {}
        for node, texts in per_node.items():
            prefix = plan.insert_prefix[node].render(params)
            if plan.key_column is not None:
                cut = prefix.rfind("(") + 1
                prefix = prefix[:cut] + "`" + plan.key_column + "`, " + prefix[cut:]
            statements[node] = prefix + ",".join(texts) + plan.insert_suffix[node].render(params)
        work = self._run_statements(plan, statements)
        results = await (self._atomically(work) if len(statements) > 1 else work)
        if results and results[0].columns:  # INSERT ... RETURNING: the rows of every node, in node order
            self.client.result(results[0].columns, [row for r in results for row in r.rows], req is not None)
            if first_generated:
                self.state.last_insert_id = first_generated
            return
        affected = sum(r.ok.affected for r in results if r.ok is not None)
        insert_id = first_generated or next((r.ok.insert_id for r in results if r.ok and r.ok.insert_id), 0)
        if insert_id:
            self.state.last_insert_id = insert_id
        self.client.ok(affected, insert_id)

    async def _run_statements(self, plan: Plan, statements: dict[int, str]) -> list[Result]:
        by_backend: dict[str, list[int]] = {}
        for n in statements:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
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

    async def _max_key(self, plan: Plan) -> int:
        """MAX(shard key) over every node: where generated keys start."""
        column = str(plan.extra["shard_column"]).replace("`", "``")
        physical_tables: list[str] = plan.extra["physical"]  # type: ignore[assignment]
        best = 0
        for target, physical in zip(plan.targets, physical_tables, strict=True):
            pool = self.state.txn.pools[target.backend]
            conn = await pool.acquire(False, self.state.charset, ())
            try:
                result = await conn.query(f"SELECT MAX(`{column}`) FROM `{physical.replace('`', '``')}`")
            finally:
                pool.release(conn)
            value = result.rows[0][0] if result.rows else None
            if value is not None:
                best = max(best, int(value))
        return best
