"""A client session: the command loop and prepared statements. Its state lives in one ``SessionState``, its
statements run through the ``StatementExecutor`` it owns, and what it shares with other sessions comes from
the ``ProxyContext`` and the server's plan cache."""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
import time
from dataclasses import dataclass

from dbproxy.errors import BackendError, NotSupported, ParseError, ProxyError, UnknownStatement
from dbproxy.executor.context import ProxyContext
from dbproxy.executor.observed import channel_type, executor_type
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import ER_LOCK_DEADLOCK
from dbproxy.executor.state import SessionState
from dbproxy.frontend.handshake import handshake
from dbproxy.plan_cache import PlanCache
from dbproxy.protocol.constants import ColumnType, Commands, ServerStatus
from dbproxy.protocol.packets import Column, eof_payload, frame
from dbproxy.protocol.params import parse_execute
from dbproxy.protocol.stream import ConnectionClosed, PacketStream, PacketTooLarge
from dbproxy.router.normalize import normalize
from dbproxy.router.session_functions import slot_values
from dbproxy.router.split import split_statements
from dbproxy.tracing import statement_spans, traced
from dbproxy.xa.transactions import SessionTransaction

log = logging.getLogger("dbproxy.session")

# plain ints for the per-command dispatch (enum attribute lookups cost on the hot path)
_COM_QUERY = int(Commands.COM_QUERY)
_COM_STMT_EXECUTE = int(Commands.COM_STMT_EXECUTE)
# commands that never get a reply, whatever happens (the client does not read one)
_NO_REPLY = {int(Commands.COM_STMT_CLOSE), int(Commands.COM_STMT_SEND_LONG_DATA)}
_error_ids = itertools.count(1)


_MORE_RESULTS = int(ServerStatus.SERVER_MORE_RESULTS_EXISTS)


class _Renumbered:
    """Stands in for the client's writer while one statement of a multi-statement text runs: its packets go
    straight to the client with sequence ids continuing the previous statement's (writers always write whole
    packets), so a long answer streams, and a slow reader slows the relay (``transport``/``drain``) instead of
    filling the proxy."""

    __slots__ = ("errored", "seq", "writer")

    def __init__(self, writer: asyncio.StreamWriter, seq: int) -> None:
        self.writer = writer
        self.seq = seq
        self.errored = False  # the last packet was an ERR (0xff cannot start a row or an OK/EOF): the text ends

    @property
    def transport(self) -> asyncio.BaseTransport:
        return self.writer.transport

    async def drain(self) -> None:
        await self.writer.drain()

    def write(self, data: bytes) -> None:
        out = bytearray(data)
        pos = 0
        seq = self.seq
        while pos + 4 <= len(out):
            out[pos + 3] = seq & 0xFF
            seq += 1
            length = out[pos] | out[pos + 1] << 8 | out[pos + 2] << 16
            self.errored = length > 0 and pos + 4 < len(out) and out[pos + 4] == 0xFF
            pos += 4 + length
        self.seq = seq
        self.writer.write(bytes(out))


def _placeholder_in_text() -> ParseError:
    # a ``?`` is a parameter only in a prepared statement; in a text query MariaDB reads it as a syntax error
    return ParseError("You have an error in your SQL syntax near '?': parameters need a prepared statement")


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
    """One client connection: handshake, then commands until COM_QUIT or disconnect."""

    def __init__(
        self,
        ctx: ProxyContext,
        plans: PlanCache,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn_id: int,
    ) -> None:
        self.ctx = ctx
        self.plans = plans
        self.stream = PacketStream(reader, writer, ctx.config.limits.max_packet_before_login)
        self.state = SessionState(conn_id, SessionTransaction(ctx.pools, ctx.committer), reading=ctx.reading)
        self.client = channel_type()(self.stream, self.state)  # the observed ones when metrics are on
        self.executor = executor_type()(ctx, self.state, self.client)
        self.statements: dict[int, Statement] = {}
        self.next_stmt = 1
        self.statement_spans = statement_spans(lambda: self.state.database)  # None: tracing off
        self.run_query = traced(self._query, self.statement_spans)  # _query itself if tracing is off

    # -- connection lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        limits = self.ctx.config.limits
        state = self.state
        registered = False
        try:
            try:
                async with asyncio.timeout(limits.handshake_timeout):
                    if not await handshake(self.ctx, state, self.client):
                        return
            except TimeoutError:
                return  # a client that never finished logging in holds nothing any longer
            self.stream.limit = limits.max_allowed_packet
            state.slots = slot_values(state.user, state.host, state.conn_id)
            self.stream.read_timeout = limits.net_read_timeout
            state.txn.pools = self.ctx.pools.for_user(state.user)  # its own backend account, if it has one
            state.wait_timeout = limits.wait_timeout
            state.command, state.since = "Sleep", time.monotonic()
            # KILL and wait_timeout close the client's socket: the loop then ends as on a disconnect, after a
            # statement that is running has finished (its transaction is then rolled back)
            state.close = self.stream.close
            self.ctx.sessions[state.conn_id] = state
            registered = True
            await self._loop()
        except PacketTooLarge as exc:
            # MySQL's answer to an oversized packet, then the connection is closed. Before login the rest is
            # never read; after it, the rest of the packet is read and dropped (bounded in time and bytes), so
            # the client, which sends it all before reading, gets the answer where it expects it in sequence.
            seq: int | None = exc.seq
            if registered:
                try:
                    seq = await self.stream.skip_packet(4 * limits.max_allowed_packet)
                except ConnectionClosed:
                    seq = None
            if seq is not None:
                self.client.error(
                    ProxyError("Got a packet bigger than 'max_allowed_packet' bytes", code=1153, sqlstate="08S01"),
                    seq=seq + 1,
                )
        except ConnectionClosed:
            pass
        finally:
            if registered:
                self.ctx.sessions.pop(state.conn_id, None)
            try:
                # a client that vanished mid-transaction leaves nothing behind
                await self.executor.end_session()
            except Exception as exc:  # the backends roll back on their own when the connection closes
                log.warning("rollback after client disconnect failed: %s: %s", type(exc).__name__, exc)
            self.stream.close()

    async def _loop(self) -> None:
        stream = self.stream
        client = self.client
        state = self.state
        transport = stream.writer.transport
        buffer_limit = self.ctx.config.limits.client_buffer
        while True:
            state.command = "Sleep"
            _, payload = await stream.read_packet()
            state.since = time.monotonic()
            state.command = "Query"
            if not payload:
                client.error(ProxyError("Malformed communication packet", code=1835, sqlstate="08S01"))
                continue
            cmd = payload[0]
            try:
                if cmd == _COM_STMT_EXECUTE:
                    await self._stmt_execute(payload)
                elif cmd == _COM_QUERY:
                    state.info = sql = payload[1:].decode("utf-8", "surrogateescape")
                    await self.run_query(sql)
                    state.info = None
                elif cmd == Commands.COM_STMT_PREPARE:
                    await self._stmt_prepare(payload[1:].decode("utf-8", "surrogateescape"))
                elif cmd == Commands.COM_STMT_CLOSE:
                    self.statements.pop(struct.unpack_from("<I", payload, 1)[0], None)
                elif cmd == Commands.COM_STMT_RESET:
                    stmt = self.statements.get(struct.unpack_from("<I", payload, 1)[0])
                    if stmt is not None:
                        stmt.long_data = False  # what RESET discards: long data sent for the next execute
                    client.ok()
                elif cmd == Commands.COM_STMT_SEND_LONG_DATA:
                    # no response is sent for it; the execute that follows is refused (values must come inline)
                    stmt = self.statements.get(struct.unpack_from("<I", payload, 1)[0])
                    if stmt is not None:
                        stmt.long_data = True
                elif cmd == Commands.COM_PING:
                    client.ok()
                elif cmd == Commands.COM_QUIT:
                    return
                elif cmd == Commands.COM_INIT_DB:
                    self.executor.use(payload[1:].decode())
                    client.ok()
                elif cmd == Commands.COM_RESET_CONNECTION:
                    await self.executor.end_session()  # rolls back, resets connections holding session state
                    self.statements.clear()
                    state.reset()
                    state.reading = self.ctx.reading
                    client.ok()
                elif cmd == Commands.COM_SET_OPTION:
                    state.multi_statements = struct.unpack_from("<H", payload, 1)[0] == 0  # 0: ON, 1: OFF
                    client.eof()
                elif cmd == Commands.COM_FIELD_LIST:
                    client.eof()
                elif cmd == Commands.COM_STATISTICS:
                    stream.write(b"Uptime: 0  Threads: 1  Questions: 0", 1)
                else:
                    raise ProxyError(f"command 0x{cmd:02x} is not supported by dbproxy", code=1047, sqlstate="08S01")
            except ProxyError as exc:
                state.info = None
                if exc.code == ER_LOCK_DEADLOCK:
                    await self.executor.deadlocked()
                if cmd not in _NO_REPLY:
                    client.error(self._for_client(exc))
            except (ConnectionClosed, PacketTooLarge):
                raise
            except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
                # a command whose bytes do not hold what its type says: the client's fault, told as such
                state.info = None
                if cmd not in _NO_REPLY:
                    detail = f"command 0x{cmd:02x} with a malformed body"
                    client.error(ProxyError(f"Malformed communication packet ({detail})", code=1835, sqlstate="08S01"))
                log.info("malformed command 0x%02x from connection %d: %s", cmd, state.conn_id, type(exc).__name__)
            except Exception as exc:
                # a bug in the proxy: one log line with an id the client also gets, never Python text to it
                state.info = None
                error_id = f"E{next(_error_ids)}-{state.conn_id}"
                log.error("internal error %s on command 0x%02x: %s: %s", error_id, cmd, type(exc).__name__, exc)
                log.debug("internal error %s", error_id, exc_info=True)
                if cmd not in _NO_REPLY:
                    client.error(ProxyError(f"internal dbproxy error (id {error_id}); see the proxy log"))
            if transport.get_write_buffer_size() > buffer_limit:
                await client.drain()

    def _for_client(self, exc: ProxyError) -> ProxyError:
        """A backend's error as the client may see it: logical names in place of physical ones."""
        if isinstance(exc, BackendError):
            names = self.executor.physical_names()
            identity = (self.state.user, self.state.host)
            if names is not None:
                exc.message = names.error_message(exc.message, identity)
            else:
                exc.message = self.ctx.schema.accounts.hidden(exc.message, *identity)
        return exc

    # -- statements -------------------------------------------------------------------------------------------

    async def _query(self, sql: str) -> None:
        if self.state.multi_statements and ";" in sql:
            parts = split_statements(sql, self.state.reading)
            if len(parts) > 1:
                await self._multi_query(parts)
                return
        await self._one_query(sql)

    async def _multi_query(self, parts: list[str]) -> None:
        """Several statements in one COM_QUERY: each answered in turn, every answer but the last flagged
        MORE_RESULTS_EXISTS, sequence ids running on across them; an error ends the text, as in MySQL."""
        state = self.state
        client = self.client
        real = self.stream.writer
        renumbered = _Renumbered(real, 1)
        try:
            for i, part in enumerate(parts):
                state.more = _MORE_RESULTS if i < len(parts) - 1 else 0  # an ERR never carries it
                client.writer = self.stream.writer = renumbered  # type: ignore[assignment]
                failed = False
                try:
                    await self._one_query(part)
                except ProxyError as exc:
                    if exc.code == ER_LOCK_DEADLOCK:
                        await self.executor.deadlocked()
                    state.more = 0
                    client.error(self._for_client(exc))
                    failed = True
                finally:
                    client.writer = self.stream.writer = real
                if failed or renumbered.errored:
                    return
        finally:
            state.more = 0

    async def _one_query(self, sql: str) -> None:
        plans = self.plans
        db = self.state.database
        reading = self.state.reading
        plan = plans.peek(sql, db, reading)
        if plan is not None:
            if plan.nparams:
                raise _placeholder_in_text()
            await self.executor.execute(plan, (), None)
            return
        # Literals are lifted into parameters so that statements differing only in values share one plan;
        # sql_mode changes (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) change what a literal is, so then it is skipped.
        lifted = None if self.state.literal_sql_mode else normalize(sql)
        if lifted is None:
            plan = plans.get(sql, db, reading)
            if plan.nparams:
                raise _placeholder_in_text()
            await self.executor.execute(plan, (), None)
            return
        shape, values = lifted
        try:
            plan = plans.get(shape, db, reading)
        except ProxyError:
            plan = plans.get(sql, db, reading)  # the original text may still plan (or fail with its own message)
            values = []
        if plan.nparams != len(values):
            raise _placeholder_in_text()
        await self.executor.execute(plan, values, None)

    async def _stmt_prepare(self, sql: str) -> None:
        plan = self.plans.get(sql, self.state.database, self.state.reading)
        stmt = Statement(self.next_stmt, sql, plan, plan.nparams)
        self.next_stmt += 1
        payloads: list[bytes] = []
        target = plan.metadata_target
        if target is not None:
            # prepare on a representative node so the client gets the real column and parameter metadata
            conn, pinned = await self.executor.conn(target.backend, begin=False)
            try:
                payloads = await conn.prepare_metadata(target.prepared_sql)
            finally:
                self.executor.done(conn, pinned)
        names = self.ctx.schema.physical_names(plan.database or self.state.database)
        if names is not None:
            # parameter and column definitions (EOF packets start with 0xfe and are short) name logical tables
            payloads[1:] = [
                p if p[:1] == b"\xfe" and len(p) < 9 else (names.column_definition(p) or p) for p in payloads[1:]
            ]
        if payloads and struct.unpack_from("<H", payloads[0], 7)[0] == stmt.nparams:
            first = payloads[0]
            payloads[0] = first[:1] + struct.pack("<I", stmt.id) + first[5:]
        else:
            payloads = [b"\x00" + struct.pack("<IHHBH", stmt.id, 0, stmt.nparams, 0, 0)]
            if stmt.nparams:
                param = Column("?", ColumnType.VAR_STRING, 63).payload()
                payloads += [param] * stmt.nparams + [eof_payload(self.state.status)]
        self.statements[stmt.id] = stmt
        self.client.write_frames(b"".join(frame(p, i + 1) for i, p in enumerate(payloads)))

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
        self.state.info = stmt.sql  # what SHOW PROCESSLIST shows while it runs
        if self.statement_spans is None:
            await self.executor.execute(stmt.plan, req.values, req)
        else:  # traced like the same statement sent as text: its span, the client's traceparent, the backends'
            await self.statement_spans.run(stmt.sql, lambda _sql: self.executor.execute(stmt.plan, req.values, req))
        self.state.info = None
