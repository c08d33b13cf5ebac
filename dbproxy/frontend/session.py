"""One client connection: handshake, then commands until COM_QUIT or disconnect."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbproxy.errors import (
    AccessDenied,
    BackendUnavailable,
    NotSupported,
    ProxyError,
    UnknownDatabase,
    UnknownStatement,
)
from dbproxy.executor.backend import BackendConnection, RelayOutcome, Result
from dbproxy.frontend.auth import check_native_password, new_scramble
from dbproxy.merge import merge_results
from dbproxy.protocol.constants import SERVER_CAPABILITIES, Capabilities, ColumnType, Commands, ServerStatus
from dbproxy.protocol.packets import (
    Column,
    binary_row_encoder,
    eof_payload,
    err_payload,
    frame,
    lenenc_int,
    ok_payload,
    read_lenenc,
    text_row,
)
from dbproxy.protocol.params import ExecuteRequest, ParamValue, parse_execute, sql_literal
from dbproxy.protocol.stream import ConnectionClosed, PacketStream
from dbproxy.router.normalize import normalize
from dbproxy.router.plan import Kind, Plan, Target
from dbproxy.transactions import SessionTransaction

if TYPE_CHECKING:
    from dbproxy.frontend.server import ProxyServer

log = logging.getLogger("dbproxy.session")

SERVER_VERSION = "5.5.5-10.11.0-MariaDB-dbproxy"
# plain ints for the per-command dispatch (enum attribute lookups cost on the hot path)
_COM_QUERY = int(Commands.COM_QUERY)
_COM_STMT_EXECUTE = int(Commands.COM_STMT_EXECUTE)
_ROUTE = Kind.ROUTE
_IN_TRANS = int(ServerStatus.SERVER_STATUS_IN_TRANS)
ER_LOCK_DEADLOCK = 1213
_AUTOCOMMIT = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT)


@dataclass(slots=True)
class Statement:
    """A client's prepared statement; ``types`` are remembered because libmariadb sends them only once."""

    id: int
    sql: str
    plan: Plan
    nparams: int
    types: bytes | None = None
    long_data: bool = False


class Session:
    def __init__(self, server: ProxyServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn_id: int):
        self.server = server
        self.stream = PacketStream(reader, writer)
        self.writer = writer
        self.conn_id = conn_id
        self.user = ""
        self.db: str | None = None
        self.autocommit = True
        self.charset = 45
        self.found_rows = False
        self.session_vars: tuple[str, ...] = ()
        self.last_insert_id = 0
        self.statements: dict[int, Statement] = {}
        self.next_stmt = 1
        self.txn = SessionTransaction(server.pools, server.committer)

    @property
    def status(self) -> int:
        return (_AUTOCOMMIT if self.autocommit else 0) | (_IN_TRANS if self.txn.active else 0)

    # -- connection lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if not await self._handshake():
                return
            await self._loop()
        except ConnectionClosed:
            pass
        finally:
            if self.txn.active or self.txn.pinned:
                # a client that vanished mid-transaction leaves nothing behind
                try:
                    await self.txn.rollback()
                except Exception:  # the backends roll back on their own when the connection closes
                    log.exception("rollback after client disconnect failed")
            self.stream.close()

    async def _handshake(self) -> bool:
        scramble = new_scramble()
        caps = int(SERVER_CAPABILITIES)
        greeting = (
            b"\x0a"
            + SERVER_VERSION.encode()
            + b"\x00"
            + struct.pack("<I", self.conn_id)
            + scramble[:8]
            + b"\x00"
            + struct.pack("<HBHH", caps & 0xFFFF, 45, _AUTOCOMMIT, caps >> 16)
            + bytes((21,))
            + b"\x00" * 10
            + scramble[8:]
            + b"\x00"
            + b"mysql_native_password\x00"
        )
        self.stream.write(greeting, 0)
        seq, resp = await self.stream.read_packet()
        client_caps, _max_packet, charset = struct.unpack_from("<IIB", resp, 0)
        if client_caps & Capabilities.CLIENT_SSL and len(resp) < 36:
            self._send_error(ProxyError("dbproxy does not support TLS; connect without SSL", code=1043,
                                        sqlstate="08S01"), seq + 1)
            return False
        self.charset = charset or 45
        self.found_rows = bool(client_caps & Capabilities.CLIENT_FOUND_ROWS)
        pos = 32
        end = resp.index(b"\x00", pos)
        self.user = resp[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if client_caps & Capabilities.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            n, pos = read_lenenc(resp, pos)
            auth = resp[pos : pos + (n or 0)]
            pos += n or 0
        elif client_caps & Capabilities.CLIENT_SECURE_CONNECTION:
            n = resp[pos]
            auth = resp[pos + 1 : pos + 1 + n]
            pos += 1 + n
        else:
            end = resp.index(b"\x00", pos)
            auth = resp[pos:end]
            pos = end + 1
        database = None
        if client_caps & Capabilities.CLIENT_CONNECT_WITH_DB and pos < len(resp):
            end = resp.find(b"\x00", pos)
            end = len(resp) if end < 0 else end
            database = resp[pos:end].decode() or None
            pos = end + 1
        plugin = "mysql_native_password"
        if client_caps & Capabilities.CLIENT_PLUGIN_AUTH and pos < len(resp):
            end = resp.find(b"\x00", pos)
            plugin = resp[pos : (len(resp) if end < 0 else end)].decode() or plugin
        seq += 1
        if plugin != "mysql_native_password":
            # ask the client to switch: the only method the proxy verifies
            self.stream.write(b"\xfe" + b"mysql_native_password\x00" + scramble + b"\x00", seq)
            seq, auth = await self.stream.read_packet()
            seq += 1
        password = self.server.config.users.get(self.user)
        if password is None or not check_native_password(password, scramble, auth):
            peer = self.writer.get_extra_info("peername") or ("?",)
            self._send_error(
                AccessDenied(
                    f"Access denied for user '{self.user}'@'{peer[0]}' (using password: {'YES' if auth else 'NO'})"
                ),
                seq,
            )
            await self._drain()
            return False
        if database is not None:
            if self.server.schema.get(database) is None:
                self._send_error(UnknownDatabase(f"Unknown database '{database}'"), seq)
                return False
            self.db = self.server.schema.get(database).name  # type: ignore[union-attr]
        self.stream.write(ok_payload(status=self.status), seq)
        return True

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def _loop(self) -> None:
        stream = self.stream
        transport = self.writer.transport
        while True:
            _, payload = await stream.read_packet()
            cmd = payload[0]
            try:
                if cmd == _COM_STMT_EXECUTE:
                    await self._stmt_execute(payload)
                elif cmd == _COM_QUERY:
                    await self._query(payload[1:].decode("utf-8", "surrogateescape"))
                elif cmd == Commands.COM_STMT_PREPARE:
                    await self._stmt_prepare(payload[1:].decode("utf-8", "surrogateescape"))
                elif cmd == Commands.COM_STMT_CLOSE:
                    self.statements.pop(struct.unpack_from("<I", payload, 1)[0], None)
                elif cmd == Commands.COM_STMT_RESET:
                    self._ok()
                elif cmd == Commands.COM_STMT_SEND_LONG_DATA:
                    # no response is sent for it; the execute that follows is refused (values must come inline)
                    stmt = self.statements.get(struct.unpack_from("<I", payload, 1)[0])
                    if stmt is not None:
                        stmt.long_data = True
                elif cmd == Commands.COM_PING:
                    self._ok()
                elif cmd == Commands.COM_QUIT:
                    return
                elif cmd == Commands.COM_INIT_DB:
                    self._use(payload[1:].decode())
                    self._ok()
                elif cmd == Commands.COM_RESET_CONNECTION:
                    if self.txn.active:
                        await self.txn.rollback()
                    self.statements.clear()
                    self.session_vars = ()
                    self.autocommit = True
                    self._ok()
                elif cmd == Commands.COM_SET_OPTION or cmd == Commands.COM_FIELD_LIST:
                    self.stream.write(eof_payload(self.status), 1)
                elif cmd == Commands.COM_STATISTICS:
                    self.stream.write(b"Uptime: 0  Threads: 1  Questions: 0", 1)
                else:
                    raise ProxyError(f"command 0x{cmd:02x} is not supported by dbproxy", code=1047,
                                     sqlstate="08S01")
            except ProxyError as exc:
                if exc.code == ER_LOCK_DEADLOCK:
                    await self._deadlocked()
                self._send_error(exc)
            except ConnectionClosed:
                raise
            except Exception as exc:
                log.exception("internal error on command 0x%02x", cmd)
                self._send_error(ProxyError(f"internal dbproxy error: {type(exc).__name__}: {exc}"))
            if transport.get_write_buffer_size() > 262144:
                await self._drain()

    # -- responses --------------------------------------------------------------------------------------------

    def _ok(self, affected: int = 0, insert_id: int = 0) -> None:
        self.stream.write(ok_payload(affected, insert_id, self.status), 1)

    def _send_error(self, exc: ProxyError, seq: int = 1) -> None:
        self.stream.write(err_payload(exc.code, exc.sqlstate, exc.message), seq)

    def _send_result(self, columns: Sequence[Column], rows: Sequence[Sequence[bytes | None]], binary: bool) -> None:
        out = [frame(lenenc_int(len(columns)), 1)]
        seq = 2
        for col in columns:
            out.append(frame(col.payload(), seq))
            seq += 1
        out.append(frame(eof_payload(self.status), seq))
        seq += 1
        encode = binary_row_encoder(list(columns)) if binary else text_row
        for row in rows:
            out.append(frame(encode(row), seq))
            seq += 1
        out.append(frame(eof_payload(self.status), seq))
        self.writer.write(b"".join(out))

    # -- statements -------------------------------------------------------------------------------------------

    def _use(self, name: str) -> None:
        db = self.server.schema.get(name.strip("`"))
        if db is None:
            raise UnknownDatabase(f"Unknown database '{name}'")
        self.db = db.name

    async def _query(self, sql: str) -> None:
        plans = self.server.plans
        plan = plans.peek(sql, self.db)
        if plan is not None:
            await self._execute(plan, (), None)
            return
        # Literals are lifted into parameters so that statements differing only in values share one plan;
        # sql_mode changes (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) change what a literal is, so then it is skipped.
        lifted = None if self.literal_sql_mode else normalize(sql)
        if lifted is None:
            await self._execute(plans.get(sql, self.db), (), None)
            return
        shape, values = lifted
        try:
            plan = plans.get(shape, self.db)
        except ProxyError:
            plan = plans.get(sql, self.db)  # the original text may still plan (or fail with its own message)
            values = []
        await self._execute(plan, values, None)

    @property
    def literal_sql_mode(self) -> bool:
        return any("sql_mode" in v.lower() for v in self.session_vars)

    async def _stmt_prepare(self, sql: str) -> None:
        plan = self.server.plans.get(sql, self.db)
        stmt = Statement(self.next_stmt, sql, plan, plan.nparams)
        self.next_stmt += 1
        payloads: list[bytes] = []
        if plan.kind in (Kind.ROUTE, Kind.INSERT) and plan.targets:
            # prepare on a representative node so the client gets the real column and parameter metadata
            target = plan.targets[0]
            conn, pinned = await self._conn(target.backend, begin=False)
            try:
                payloads = await conn.prepare_metadata(target.prepared_sql)
            finally:
                self._done(conn, pinned)
        if payloads and struct.unpack_from("<H", payloads[0], 7)[0] == stmt.nparams:
            first = payloads[0]
            payloads[0] = first[:1] + struct.pack("<I", stmt.id) + first[5:]
        else:
            payloads = [b"\x00" + struct.pack("<IHHBH", stmt.id, 0, stmt.nparams, 0, 0)]
            if stmt.nparams:
                param = Column("?", ColumnType.VAR_STRING, 63).payload()
                payloads += [param] * stmt.nparams + [eof_payload(self.status)]
        self.statements[stmt.id] = stmt
        self.writer.write(b"".join(frame(p, i + 1) for i, p in enumerate(payloads)))

    async def _stmt_execute(self, payload: bytes) -> None:
        stmt_id = struct.unpack_from("<I", payload, 1)[0]
        stmt = self.statements.get(stmt_id)
        if stmt is None:
            raise UnknownStatement(f"Unknown prepared statement handler ({stmt_id}) given to mysqld_stmt_execute")
        if stmt.long_data:
            stmt.long_data = False
            raise NotSupported("COM_STMT_SEND_LONG_DATA (send parameter values inline)")
        req = parse_execute(payload, stmt.nparams, stmt.types)
        if stmt.nparams:
            stmt.types = req.types
        await self._execute(stmt.plan, req.values, req)

    async def _execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        kind = plan.kind
        if kind is _ROUTE:
            await self._route(plan, params, req)
        elif kind is Kind.INSERT:
            await self._insert(plan, params, req)
        elif kind is Kind.BEGIN:
            if self.txn.active:
                await self.txn.commit()  # BEGIN inside a transaction commits it, as in MySQL
            self.txn.begin(str(plan.extra.get("sql") or "BEGIN"))
            self._ok()
        elif kind is Kind.COMMIT:
            if self.txn.active:
                await self.txn.commit()
            self._ok()
        elif kind is Kind.ROLLBACK:
            if self.txn.active:
                await self.txn.rollback()
            self._ok()
        elif kind is Kind.SET:
            await self._set(plan)
        elif kind is Kind.USE:
            self._use(str(plan.extra["db"]))
            self._ok()
        else:
            await self.server.local.run(self, plan, req is not None)

    async def _set(self, plan: Plan) -> None:
        rest = plan.extra.get("rest")
        if isinstance(rest, str):
            # validate on a backend, then remember: every backend connection this session uses replays it
            backend = self._default_backend()
            conn, pinned = await self._conn(backend, begin=False)
            try:
                await conn.execute(rest)
                conn.session_vars = (*self.session_vars, rest)
            finally:
                self._done(conn, pinned)
            self.session_vars = (*self.session_vars, rest)
            for other in self.txn.pinned.values():
                if other is not conn:
                    await other.execute(rest)
                    other.session_vars = self.session_vars
        autocommit = plan.extra.get("autocommit")
        if autocommit is not None:
            if autocommit and not self.autocommit and self.txn.active:
                await self.txn.commit()
            self.autocommit = bool(autocommit)
        self._ok()

    def _default_backend(self) -> str:
        db = self.server.schema.get(self.db) or next(iter(self.server.schema.databases.values()))
        return db.default_backend

    async def _conn(self, backend: str, begin: bool = True) -> tuple[BackendConnection, bool]:
        """A backend connection for one statement; inside a transaction the pinned one."""
        if begin and not self.autocommit and not self.txn.active:
            self.txn.begin()
        if self.txn.active and (begin or backend in self.txn.pinned):
            conn = await self.txn.connection(backend, self.found_rows, self.charset, self.session_vars)
            return conn, True
        pool = self.server.pools[backend]
        idle = pool.try_acquire(self.found_rows, self.charset, self.session_vars)
        if idle is not None:
            return idle, False
        return await pool.acquire(self.found_rows, self.charset, self.session_vars), False

    def _done(self, conn: BackendConnection, pinned: bool) -> None:
        if not pinned:
            self.server.pools[conn.name].release(conn)

    async def _relay(
        self, target: Target, params: Sequence[ParamValue], req: ExecuteRequest | None, retry_read: bool = False
    ) -> None:
        conn, pinned = await self._conn(target.backend)
        try:
            if req is None:
                command = b"\x03" + target.template.render(params).encode("utf-8", "surrogateescape")
            else:
                cached = conn.statements.get(target.prepared_sql)
                stmt_id, nparams = (cached[0], cached[1]) if cached else await conn.prepare(target.prepared_sql)
                command = conn.execute_command(stmt_id, nparams, req.null_bitmap, req.types, req.raw_values)
            outcome: RelayOutcome = await conn.relay(command, self.writer, self.status)
        except BackendUnavailable:
            # A pooled connection the server closed while idle (wait_timeout, restart) fails on first use; a read
            # outside a transaction is safe to run once more on a fresh connection. Writes are never retried.
            if pinned or not retry_read:
                raise
            self._done(conn, pinned)
            await self._relay(target, params, req, retry_read=False)
            return
        finally:
            self._done(conn, pinned)
        if outcome.insert_id:
            self.last_insert_id = outcome.insert_id
        if outcome.error == ER_LOCK_DEADLOCK and pinned:
            await self._deadlocked()

    async def _deadlocked(self) -> None:
        """The backend rolled its branch back after a deadlock; in MySQL the whole transaction is gone then, so
        the other branches go too (committing them later would keep half a transaction)."""
        if self.txn.active:
            await self.txn.rollback()

    async def _route(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        if plan.implicit_commit:
            if self.txn.active:
                await self.txn.commit()
            ddl_table = plan.extra.get("ddl_table")
            if isinstance(ddl_table, str):
                self.server.keys.forget((self.db or "", ddl_table))
        nodes = plan.choose(params) or [0]
        if len(nodes) == 1:
            target = plan.targets[nodes[0]]
            if req is None or target.relayable:
                await self._relay(target, params, req, retry_read=plan.is_read)
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

    async def _atomically(self, work: Coroutine[Any, Any, list[Result]]) -> list[Result]:
        """Run a write that spans several nodes as one statement would run in MySQL: all or nothing. Outside a
        client transaction it gets its own (committed through the same Committer as client transactions)."""
        if self.txn.active:
            return await work
        self.txn.begin()
        try:
            results = await work
        except BaseException:
            await self.txn.rollback()
            raise
        await self.txn.commit()
        return results

    async def _concatenate(
        self, plan: Plan, nodes: list[int], params: Sequence[ParamValue], req: ExecuteRequest | None
    ) -> None:
        """A scatter whose answer is every shard's rows in turn: rows are copied, never decoded."""
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
        results: dict[int, tuple[list[bytes], list[bytes]]] = {}

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self._conn(backend)
            try:
                for n in idxs:
                    target = plan.targets[n]
                    if req is None:
                        command = b"\x03" + target.template.render(params).encode("utf-8", "surrogateescape")
                    else:
                        stmt_id, nparams = await conn.prepare(target.prepared_sql)
                        command = conn.execute_command(stmt_id, nparams, req.null_bitmap, req.types, req.raw_values)
                    results[n] = await conn.collect(command)
            finally:
                self._done(conn, pinned)

        outcomes = await asyncio.gather(*(run(b, i) for b, i in by_backend.items()), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise next((e for e in errors if isinstance(e, BackendUnavailable)), errors[0])
        columns = results[nodes[0]][0]
        out = [frame(lenenc_int(len(columns)), 1)]
        seq = 2
        for col in columns:
            out.append(frame(col, seq))
            seq += 1
        out.append(frame(eof_payload(self.status), seq))
        for n in nodes:
            for row in results[n][1]:
                seq += 1
                out.append(frame(row, seq))
        out.append(frame(eof_payload(self.status), seq + 1))
        self.writer.write(b"".join(out))

    def _reply(self, plan: Plan, results: list[Result], params: Sequence[ParamValue], binary: bool) -> None:
        first = results[0]
        if first.ok is not None or not first.columns:
            affected = sum(r.ok.affected for r in results if r.ok is not None)
            insert_id = next((r.ok.insert_id for r in results if r.ok is not None and r.ok.insert_id), 0)
            if insert_id:
                self.last_insert_id = insert_id
            self._ok(affected, insert_id)
            return
        if plan.merge is not None and len(results) > 1:
            columns, rows = merge_results(plan.merge, first.columns, [r.rows for r in results], params)
        else:
            columns = first.columns
            rows = [row for r in results for row in r.rows]
        self._send_result(columns, rows, binary)

    async def _run_text(
        self, plan: Plan, nodes: list[int], params: Sequence[ParamValue], merge: bool
    ) -> list[Result]:
        """Run the plan's statement on ``nodes`` as text and decode the results; backends run in parallel,
        the nodes of one backend one after another on one connection."""
        named = None
        if merge and plan.merge is not None:
            limit, offset = plan.merge.bounds(params)
            if limit is not None:
                named = {"__dbp_limit__": str(limit + offset)}
        by_backend: dict[str, list[int]] = {}
        for n in nodes:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
        results: dict[int, Result] = {}

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self._conn(backend)
            try:
                for n in idxs:
                    target = plan.targets[n]
                    template = target.merge_template if merge and target.merge_template else target.template
                    results[n] = await conn.query(template.render(params, named).encode("utf-8", "surrogateescape"))
            finally:
                self._done(conn, pinned)

        outcomes = await asyncio.gather(*(run(b, i) for b, i in by_backend.items()), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            for e in errors:
                if not isinstance(e, ProxyError):
                    raise e
            raise next((e for e in errors if isinstance(e, BackendUnavailable)), errors[0])
        return [results[n] for n in nodes]

    async def _insert(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        rule = plan.rule
        assert rule is not None
        rows = plan.insert_rows
        table = (self.db or "", plan.key_table or "")
        keys: list[object] = [row.key.get(params) if row.key is not None else None for row in rows]
        generate = [plan.key_table is not None and (k is None or k == 0 or k == b"0") for k in keys]
        first_generated = 0
        if any(generate):
            first_generated = await self.server.keys.allocate(table, sum(generate), lambda: self._max_key(plan))
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
                self.server.keys.observe(table, k)
        if not any(generate) and len(set(nodes)) == 1:
            target = plan.targets[nodes[0]]
            if req is None or target.relayable:
                await self._relay(target, params, req)
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
            self._send_result(results[0].columns, [row for r in results for row in r.rows], req is not None)
            if first_generated:
                self.last_insert_id = first_generated
            return
        affected = sum(r.ok.affected for r in results if r.ok is not None)
        insert_id = first_generated or next((r.ok.insert_id for r in results if r.ok and r.ok.insert_id), 0)
        if insert_id:
            self.last_insert_id = insert_id
        self._ok(affected, insert_id)

    async def _run_statements(self, plan: Plan, statements: dict[int, str]) -> list[Result]:
        by_backend: dict[str, list[int]] = {}
        for n in statements:
            by_backend.setdefault(plan.targets[n].backend, []).append(n)
        by_node: dict[int, Result] = {}

        async def run(backend: str, idxs: list[int]) -> None:
            conn, pinned = await self._conn(backend)
            try:
                for n in idxs:
                    by_node[n] = await conn.query(statements[n].encode("utf-8", "surrogateescape"))
            finally:
                self._done(conn, pinned)

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
            pool = self.server.pools[target.backend]
            conn = await pool.acquire(False, self.charset, ())
            try:
                result = await conn.query(f"SELECT MAX(`{column}`) FROM `{physical.replace('`', '``')}`")
            finally:
                pool.release(conn)
            value = result.rows[0][0] if result.rows else None
            if value is not None:
                best = max(best, int(value))
        return best

