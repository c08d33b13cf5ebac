"""The client side of a session as the executor sees it: where OK, error and result-set packets go."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dbproxy.errors import AccessRefused, ProxyError
from dbproxy.executor.state import SessionState
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
from dbproxy.protocol.stream import ConnectionClosed, PacketStream


class ClientChannel:
    __slots__ = ("state", "stream", "writer")

    def __init__(self, stream: PacketStream, state: SessionState) -> None:
        self.stream = stream
        self.writer: asyncio.StreamWriter = stream.writer
        self.state = state

    def ok(self, affected: int = 0, insert_id: int = 0) -> None:
        self.stream.write(ok_payload(affected, insert_id, self.state.status), 1)

    def error(self, exc: ProxyError, seq: int = 1) -> None:
        if isinstance(exc, AccessRefused):
            exc = exc.for_client(self.state.user, self.state.host)
        self.stream.write(err_payload(exc.code, exc.sqlstate, exc.message), seq)

    def eof(self) -> None:
        self.stream.write(eof_payload(self.state.status), 1)

    def result(self, columns: Sequence[Column], rows: Sequence[Sequence[bytes | None]], binary: bool) -> None:
        status = self.state.status
        out = [frame(lenenc_int(len(columns)), 1)]
        seq = 2
        for col in columns:
            out.append(frame(col.payload(), seq))
            seq += 1
        out.append(frame(eof_payload(status), seq))
        seq += 1
        encode = binary_row_encoder(list(columns)) if binary else text_row
        for row in rows:
            out.append(frame(encode(row), seq))
            seq += 1
        out.append(frame(eof_payload(status), seq))
        self.writer.write(b"".join(out))

    def write_frames(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(str(exc)) from exc
