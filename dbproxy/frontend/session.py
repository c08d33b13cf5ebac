"""A client session: the command loop, prepared statements, session state (database, autocommit, SET)."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbproxy.errors import (
    NotSupported,
    ProxyError,
    UnknownDatabase,
    UnknownStatement,
)
from dbproxy.executor.statements import ER_LOCK_DEADLOCK, StatementExecution
from dbproxy.frontend.handshake import handshake
from dbproxy.protocol.constants import ColumnType, Commands, ServerStatus
from dbproxy.protocol.packets import (
    Column,
    binary_row_encoder,
    eof_payload,
    err_payload,
    frame,
    lenenc_int,
    ok_payload,
    text_row,
)
from dbproxy.protocol.params import ExecuteRequest, ParamValue, parse_execute
from dbproxy.protocol.stream import ConnectionClosed, PacketStream
from dbproxy.router.normalize import normalize
from dbproxy.router.plan import Kind, Plan
from dbproxy.transactions import SessionTransaction

if TYPE_CHECKING:
    from dbproxy.frontend.server import ProxyServer

log = logging.getLogger("dbproxy.session")

# plain ints for the per-command dispatch (enum attribute lookups cost on the hot path)
_COM_QUERY = int(Commands.COM_QUERY)
_COM_STMT_EXECUTE = int(Commands.COM_STMT_EXECUTE)
_ROUTE = Kind.ROUTE
_IN_TRANS = int(ServerStatus.SERVER_STATUS_IN_TRANS)
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


class Session(StatementExecution):
    """One client connection: handshake, then commands until COM_QUIT or disconnect."""

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
            if not await handshake(self):
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
                    stmt = self.statements.get(struct.unpack_from("<I", payload, 1)[0])
                    if stmt is not None:
                        stmt.long_data = False  # what RESET discards: long data sent for the next execute
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
                    raise ProxyError(f"command 0x{cmd:02x} is not supported by dbproxy", code=1047, sqlstate="08S01")
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
        # backends a changing statement runs on become branches that need two-phase commit
        self.txn.writing = kind is Kind.INSERT or (kind is _ROUTE and not plan.is_read)
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
