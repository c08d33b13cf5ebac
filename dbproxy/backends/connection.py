"""A MySQL client connection to one backend, speaking the protocol directly.

It can decode a result (for merges and control statements) or relay it: backend result packets are copied to
the client's socket untouched except for the session status bits of the final packet. Relaying is what makes
single-shard statements cheap: no row is decoded or re-encoded in Python.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections import OrderedDict
from dataclasses import dataclass

from dbproxy.config import BackendDSN
from dbproxy.errors import BackendError, BackendUnavailable, ProxyError
from dbproxy.protocol.constants import BACKEND_CAPABILITIES, MAX_PACKET, Capabilities
from dbproxy.protocol.packets import (
    MORE_RESULTS,
    SESSION_STATUS_MASK,
    Column,
    OkInfo,
    eof_payload,
    err_payload,
    frame,
    lenenc_str,
    parse_column,
    parse_err,
    parse_ok,
    parse_text_row,
    read_lenenc,
)
from dbproxy.protocol.stream import ConnectionClosed, PacketStream
from dbproxy.router.physical_names import PhysicalNames
from dbproxy.tracing import commented

MAX_CACHED_STATEMENTS = 256
_RELAY_FLUSH = 65536


def native_password_scramble(password: str, seed: bytes) -> bytes:
    if not password:
        return b""
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(seed + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3, strict=True))


@dataclass(slots=True)
class Result:
    """A decoded result: either rows (text protocol values) or an OK."""

    columns: list[Column]
    rows: list[list[bytes | None]]
    ok: OkInfo | None = None


@dataclass(slots=True)
class RelayOutcome:
    """What a relayed response ended with: an OK (affected rows, insert id), rows, or an error code."""

    affected: int = 0
    insert_id: int = 0
    error: int = 0


ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
DEADLOCK_MESSAGE = (
    "Deadlock found when trying to get lock; try restarting transaction (dbproxy: waited longer than "
    "transactions.cross_backend_lock_wait while holding another backend; the transaction was rolled back)"
)


async def _pass_through(stream: PacketStream, out: asyncio.StreamWriter, end: int) -> None:
    """Write the first ``end`` bytes of what the backend sends (the buffer, then as it arrives) to ``out``."""
    buf = stream.buf
    while True:
        n = min(end, len(buf))
        out.write(bytes(buf[:n]))
        del buf[:n]
        end -= n
        await _backpressure(out)
        if not end:
            return
        await stream.fill()


async def _backpressure(out: asyncio.StreamWriter) -> None:
    """A client slower than the backend stops the relay (which reads on only after this) while its socket holds
    more than its high-water mark (limits.client_buffer): a slow reader holds that much, not the whole result.
    Checked only when a relay flushes part of a long result, never per statement."""
    transport = getattr(out, "transport", None)  # none while a multi-statement answer is captured
    if transport is None or transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
        return
    try:
        await out.drain()
    except (ConnectionError, OSError) as exc:
        raise ConnectionClosed(f"client connection lost ({exc})") from exc


def _as_deadlock(buf: bytearray, start: int, end: int) -> int:
    """Replace the ERR packet buf[start:end] by a 1213 deadlock error; returns the packet's new end."""
    packet = frame(err_payload(ER_LOCK_DEADLOCK, "40001", DEADLOCK_MESSAGE), buf[start + 3])
    buf[start:end] = packet
    return start + len(packet)


class BackendConnection:
    def __init__(self, name: str, stream: PacketStream, key: tuple[str, bool, int]) -> None:
        self.name = name
        self.key = key
        self.stream = stream
        self.statements: OrderedDict[str, tuple[int, int, list[bytes]]] = OrderedDict()
        self.broken = False
        self.in_transaction = False
        self.session_vars: tuple[str, ...] = ()
        self.handshake_charset = key[2]  # what COM_RESET_CONNECTION returns the connection to
        self.pending = 0  # responses to pipelined commands (BEGIN) not read yet
        self.released = False  # back in (or dropped by) its pool: guards against releasing twice
        self._pipelined = bytearray()  # framed pipelined commands, written with the next command

    def send_pipelined(self, sql: str) -> None:
        """Queue a statement whose OK is read just before the next response: saves a round trip for BEGIN. It
        goes out in the same write as the next command (one system call for both, not one each)."""
        self._pipelined += frame(b"\x03" + sql.encode(), 0)
        self.pending += 1

    async def _skip_pending(self) -> None:
        while self.pending:
            self.pending -= 1
            reply = await self._read()
            if reply[0] == 0xFF:
                error = self._error(reply)
                # the response to the command sent after it is still in flight: this connection is unusable
                self.close()
                raise BackendError(self.name, error.code, error.sqlstate, f"backend '{self.name}': {error.message}")

    @classmethod
    async def connect(
        cls, name: str, dsn: BackendDSN, *, charset: int, found_rows: bool, timeout: float
    ) -> BackendConnection:
        try:
            if dsn.unix_socket:
                opening = asyncio.open_unix_connection(dsn.unix_socket)
            else:
                opening = asyncio.open_connection(dsn.host, dsn.port)
            reader, writer = await asyncio.wait_for(opening, timeout)
        except (OSError, TimeoutError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise BackendUnavailable(name, f"{dsn.address} is unreachable ({detail})") from exc
        conn = cls(name, PacketStream(reader, writer), (name, found_rows, charset))
        try:
            await asyncio.wait_for(conn._handshake(dsn, charset, found_rows), timeout)
        except (ConnectionClosed, TimeoutError) as exc:
            conn.close()
            raise BackendUnavailable(name, f"handshake with {dsn.address} failed ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    async def _handshake(self, dsn: BackendDSN, charset: int, found_rows: bool) -> None:
        seq, greeting = await self.stream.read_packet()
        if greeting[0] == 0xFF:
            code, state, msg = parse_err(greeting)
            raise BackendError(self.name, code, state, f"backend '{self.name}': {msg}")
        pos = greeting.index(b"\x00", 1) + 1
        pos += 4  # connection id
        seed = greeting[pos : pos + 8]
        pos += 9
        pos += 2 + 1 + 2 + 2  # caps low, charset, status, caps high
        auth_len = greeting[pos]
        pos += 11
        seed += greeting[pos : pos + max(13, auth_len - 8) - 1]
        caps = BACKEND_CAPABILITIES | (Capabilities.CLIENT_FOUND_ROWS if found_rows else 0)
        auth = native_password_scramble(dsn.password, seed)
        response = (
            struct.pack("<IIB", int(caps), 1 << 24, charset & 0xFF)
            + b"\x00" * 23
            + dsn.user.encode()
            + b"\x00"
            + lenenc_str(auth)
            + dsn.database.encode()
            + b"\x00"
            + b"mysql_native_password\x00"
        )
        self.stream.write(response, seq + 1)
        while True:
            seq, reply = await self.stream.read_packet()
            if reply[0] == 0x00:
                return
            if reply[0] == 0xFF:
                code, state, msg = parse_err(reply)
                raise BackendError(self.name, code, state, f"backend '{self.name}': {msg}")
            if reply[0] == 0xFE:  # auth switch: answer the new seed with mysql_native_password
                end = reply.index(b"\x00", 1)
                new_seed = reply[end + 1 :].rstrip(b"\x00")
                self.stream.write(native_password_scramble(dsn.password, new_seed), seq + 1)
                continue
            raise BackendError(self.name, 1045, "28000", f"backend '{self.name}': unsupported authentication step")

    def usable(self) -> bool:
        """False once the server closed the idle connection (wait_timeout, KILL, restart) or sent anything
        unasked: the event loop has already read that EOF or packet, so this costs no round trip."""
        reader = self.stream.reader
        unasked = bool(getattr(reader, "_buffer", b"")) or bool(self.stream.buf)
        return not (self.broken or self.stream.writer.is_closing() or reader.at_eof() or unasked)

    def close(self) -> None:
        self.broken = True
        self.stream.close()

    def _lost(self, exc: BaseException) -> BackendUnavailable:
        self.close()
        return BackendUnavailable(self.name, f"connection lost ({exc})")

    async def _read(self) -> bytes:
        try:
            return (await self.stream.read_packet())[1]
        except ConnectionClosed as exc:
            raise self._lost(exc) from exc

    def _send(self, payload: bytes) -> None:
        payload = commented(payload)  # the statement's traceparent, when tracing is on
        if self._pipelined:
            self._pipelined += frame(payload, 0)
            self.stream.writer.write(bytes(self._pipelined))
            self._pipelined.clear()
            return
        self.stream.write(payload, 0)

    def _error(self, payload: bytes) -> BackendError:
        code, state, msg = parse_err(payload)
        return BackendError(self.name, code, state, msg)

    async def query(self, sql: str | bytes) -> Result:
        """Run a statement and decode its (last) result."""
        self._send(b"\x03" + (sql.encode() if isinstance(sql, str) else sql))
        if self.pending:
            await self._skip_pending()
        return await self._read_result(binary=False)

    async def _read_result(self, *, binary: bool) -> Result:
        result: Result | None = None
        error: BackendError | None = None
        while True:
            first = await self._read()
            if first[0] == 0xFF:
                error = error or self._error(first)
                return self._raise(error)
            if first[0] == 0x00:
                ok = parse_ok(first)
                result = Result([], [], ok)
                more = ok.status & MORE_RESULTS
            else:
                ncols, _ = read_lenenc(first, 0)
                columns = [parse_column(await self._read()) for _ in range(ncols or 0)]
                await self._read()  # EOF after column definitions
                rows: list[list[bytes | None]] = []
                stream = self.stream
                while True:
                    packet = stream.try_payload()
                    if packet is None:
                        packet = await self._read()
                    if packet[0] == 0xFE and len(packet) < 9:
                        status = struct.unpack_from("<H", packet, 3)[0]
                        break
                    if packet[0] == 0xFF:
                        error = error or self._error(packet)
                        status = 0
                        break
                    if binary:
                        raise BackendError(self.name, 1105, "HY000", "binary rows are never decoded by the proxy")
                    rows.append(parse_text_row(packet, len(columns)))
                result = Result(columns, rows)
                more = status & MORE_RESULTS
            if not more:
                if error is not None:
                    return self._raise(error)
                return result

    @staticmethod
    def _raise(error: BackendError) -> Result:
        raise error

    async def _simple_command(self, command: bytes) -> None:
        """Send a command answered by one OK (after any pipelined replies still unread); raise its error."""
        self._send(command)
        if self.pending:
            await self._skip_pending()
        reply = await self._read()
        if reply[0] == 0xFF:
            raise self._error(reply)

    async def ping(self) -> None:
        """One round trip (COM_PING): proves the connection, and so its open transaction, is still there."""
        await self._simple_command(b"\x0e")

    async def reset(self) -> None:
        """COM_RESET_CONNECTION: MariaDB drops user variables, temporary tables, named locks, prepared
        statements and session variables, and returns to the handshake's character set."""
        await self._simple_command(b"\x1f")
        self.statements.clear()
        self.session_vars = ()
        self.key = (self.key[0], self.key[1], self.handshake_charset)

    async def execute(self, sql: str) -> OkInfo:
        result = await self.query(sql)
        return result.ok or OkInfo(0, 0, 0, 0)

    # -- relay -------------------------------------------------------------------------------------------------

    async def relay(
        self,
        command: bytes,
        out: asyncio.StreamWriter,
        status: int,
        lock_timeout_as_deadlock: bool = False,
        names: PhysicalNames | None = None,
        identity: tuple[str, str] | None = None,
    ) -> RelayOutcome:
        """Send ``command`` and copy the response packets to ``out``.

        The final OK/EOF gets the session's autocommit/in-transaction bits, since the backend's own bits describe
        its connection, not the client's session. With ``lock_timeout_as_deadlock`` a lock wait timeout (1205)
        reaches the client as a deadlock (1213): the session rolls the whole transaction back, as for one.
        ``names`` makes column definitions and error texts name logical databases and tables, and error texts
        name the client's ``identity`` (user, host) where a backend named its account.
        """
        self._send(command)
        if self.pending:
            await self._skip_pending()
        stream = self.stream
        buf = stream.buf
        pos = 0  # scan position in buf (start of the next unscanned packet)
        state = 0  # 0 first packet, 1 column definitions, 2 EOF after columns, 3 rows
        remaining = 0
        outcome = RelayOutcome()
        soff = -1
        continued = False
        try:
            while True:
                if len(buf) - pos < 4:
                    if pos > _RELAY_FLUSH:
                        out.write(bytes(buf[:pos]))
                        del buf[:pos]
                        pos = 0
                        await _backpressure(out)
                    await stream.fill()
                    continue
                length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
                end = pos + 4 + length
                if len(buf) < end:
                    if length >= _RELAY_FLUSH and (continued or state == 3):
                        # a long row (or the rest of one): its bytes pass through as they come, so the proxy
                        # holds a read's worth of it, not the whole packet (it needs no status rewrite)
                        continued = length == MAX_PACKET
                        await _pass_through(stream, out, end)
                        pos = 0
                        continue
                    if pos > _RELAY_FLUSH:
                        out.write(bytes(buf[:pos]))
                        del buf[:pos]
                        pos = 0
                        end = 4 + length
                        await _backpressure(out)
                    await stream.fill()
                    continue
                if continued:
                    # the rest of a payload of 16 MiB or more: part of the packet before, nothing to classify
                    continued = length == MAX_PACKET
                    pos = end
                    continue
                continued = length == MAX_PACKET
                head = buf[pos + 4] if length else 0
                terminal = False
                if state == 0:
                    if head == 0x00:
                        terminal = True
                        affected, p = read_lenenc(buf, pos + 5)
                        insert_id, p = read_lenenc(buf, p)
                        outcome.affected += affected or 0
                        if insert_id:
                            outcome.insert_id = insert_id
                        soff = p
                    elif head == 0xFF:
                        outcome.error = buf[pos + 5] | buf[pos + 6] << 8
                        terminal = True
                        soff = -1
                        if lock_timeout_as_deadlock and outcome.error == ER_LOCK_WAIT_TIMEOUT:
                            end = _as_deadlock(buf, pos, end)
                            outcome.error = ER_LOCK_DEADLOCK
                        elif names is not None:
                            end = names.rewrite_error(buf, pos, end, identity)
                    else:
                        n, _ = read_lenenc(buf, pos + 4)
                        remaining = n or 0
                        state = 1
                elif state == 1:
                    if names is not None:
                        end = names.rewrite_column(buf, pos, end)
                    remaining -= 1
                    if remaining == 0:
                        state = 2
                elif state == 2:
                    state = 3
                elif head == 0xFE and length < 9:
                    terminal = True
                    soff = pos + 7
                elif head == 0xFF:
                    outcome.error = buf[pos + 5] | buf[pos + 6] << 8
                    terminal = True
                    soff = -1
                    if names is not None:
                        end = names.rewrite_error(buf, pos, end, identity)
                pos = end
                if terminal:
                    more = False
                    if soff >= 0:
                        flags = buf[soff] | buf[soff + 1] << 8
                        more = bool(flags & MORE_RESULTS)
                        flags = (flags & ~SESSION_STATUS_MASK) | status
                        buf[soff] = flags & 0xFF
                        buf[soff + 1] = flags >> 8
                    if not more:
                        out.write(bytes(buf[:pos]))
                        del buf[:pos]
                        return outcome
                    state = 0
        except ConnectionClosed as exc:
            raise self._lost(exc) from exc

    # -- prepared statements ------------------------------------------------------------------------------------

    def send(self, command: bytes) -> None:
        """Send ``command`` now; its response is read later (``stream_result``, ``discard_result``)."""
        self._send(command)

    async def stream_result(
        self,
        out: asyncio.StreamWriter,
        seq: int,
        started: bool,
        status: int,
        names: PhysicalNames | None = None,
        identity: tuple[str, str] | None = None,
    ) -> int:
        """Read the result set answering a command sent with ``send`` and write it to ``out`` as packets numbered
        from ``seq``: the column definitions only when the client's answer has not ``started`` (one result set
        made of several shards' rows), then the rows, never more than the client's buffer ahead. Returns the
        next sequence id, or -1 when the answer ended with an error written to ``out``. An error before anything
        of the answer was written is raised instead. ``names`` makes column definitions and a written error name
        logical databases and tables (and the client's ``identity`` for a backend account)."""
        frames: list[bytes] = []
        written = started
        try:
            if self.pending:
                await self._skip_pending()
            first = await self._read()
            if first[0] == 0xFF:
                raise self._error(first)
            if first[0] == 0x00:
                raise BackendError(self.name, 1105, "HY000", "a shard answered a scatter SELECT without rows")
            ncols, _ = read_lenenc(first, 0)
            if not started:
                frames.append(frame(first, seq))
                seq += 1
            for _ in range(ncols or 0):
                column = await self._read()
                if not started:
                    if names is not None:
                        column = names.column_definition(column) or column
                    frames.append(frame(column, seq))
                    seq += 1
            await self._read()  # EOF after the column definitions
            if not started:
                frames.append(frame(eof_payload(status), seq))
                seq += 1
            size = 0
            stream = self.stream
            while True:
                packet = stream.try_payload()
                if packet is None:
                    if frames:
                        out.write(b"".join(frames))
                        frames, size, written = [], 0, True
                        await _backpressure(out)
                    packet = await self._read()
                if packet[0] == 0xFE and len(packet) < 9:
                    if struct.unpack_from("<H", packet, 3)[0] & MORE_RESULTS:
                        self.close()  # the other result sets are still coming
                        raise BackendError(self.name, 1235, "42000", "multiple result sets in a scatter")
                    out.write(b"".join(frames))
                    return seq
                if packet[0] == 0xFF:
                    raise self._error(packet)
                frames.append(frame(packet, seq))
                seq += 1
                size += len(packet)
                if size > _RELAY_FLUSH:
                    out.write(b"".join(frames))
                    frames, size, written = [], 0, True
                    await _backpressure(out)
        except ConnectionClosed:
            self.close()  # the client is gone half-way through this response
            raise
        except ProxyError as exc:
            if not written:
                raise
            # the client has part of the answer: it ends with the error, in sequence
            message = exc.message if names is None else names.error_message(exc.message, identity)
            frames.append(frame(err_payload(exc.code, exc.sqlstate, message), seq))
            out.write(b"".join(frames))
            return -1

    async def discard_result(self) -> None:
        """Read and drop the response to a command sent with ``send`` (its answer is not wanted any more)."""
        if self.pending:
            await self._skip_pending()
        while True:
            first = await self._read()
            if first[0] == 0xFF:
                return
            if first[0] == 0x00:
                if not parse_ok(first).status & MORE_RESULTS:
                    return
                continue
            ncols, _ = read_lenenc(first, 0)
            for _ in range((ncols or 0) + 1):  # definitions and their EOF
                await self._read()
            while True:
                packet = await self._read()
                if packet[0] == 0xFF:
                    return
                if packet[0] == 0xFE and len(packet) < 9:
                    if not struct.unpack_from("<H", packet, 3)[0] & MORE_RESULTS:
                        return
                    break

    async def prepare(self, sql: str) -> tuple[int, int]:
        """Prepare ``sql`` once per connection; returns (statement id, parameter count)."""
        cached = self.statements.get(sql)
        if cached is not None:
            self.statements.move_to_end(sql)
            return cached[0], cached[1]
        stmt_id, nparams, _ = await self._prepare(sql)
        return stmt_id, nparams

    async def prepare_metadata(self, sql: str) -> list[bytes]:
        """The backend's COM_STMT_PREPARE response payloads for ``sql`` (to relay to a client)."""
        cached = self.statements.get(sql)
        if cached is not None:
            return list(cached[2])
        return list((await self._prepare(sql))[2])

    async def _prepare(self, sql: str) -> tuple[int, int, list[bytes]]:
        self._send(b"\x16" + sql.encode())
        if self.pending:
            await self._skip_pending()
        first = await self._read()
        if first[0] == 0xFF:
            raise self._error(first)
        stmt_id, ncols, nparams = struct.unpack_from("<IHH", first, 1)
        payloads = [first]
        for count in (nparams, ncols):
            if count:
                for _ in range(count + 1):  # definitions + EOF
                    payloads.append(await self._read())
        self.statements[sql] = (stmt_id, nparams, payloads)
        if len(self.statements) > MAX_CACHED_STATEMENTS:
            _, (old_id, _, _) = self.statements.popitem(last=False)
            self._send(b"\x19" + struct.pack("<I", old_id))  # COM_STMT_CLOSE has no response
        return stmt_id, nparams, payloads

    def execute_command(self, stmt_id: int, nparams: int, null_bitmap: bytes, types: bytes, raw: bytes) -> bytes:
        """A COM_STMT_EXECUTE for this connection's statement, always with types bound (the backend statement
        may be new on this connection even when the client's is not)."""
        head = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1)
        if not nparams:
            return head
        return head + null_bitmap + b"\x01" + types + raw
