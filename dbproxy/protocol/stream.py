"""Packet framing over an asyncio stream, with one buffer so a relay can forward many packets per write."""

from __future__ import annotations

import asyncio

from dbproxy.protocol.constants import MAX_PACKET
from dbproxy.protocol.packets import frame


class ConnectionClosed(Exception):
    """The peer closed the connection (or it broke) while a packet was expected."""


class PacketTooLarge(Exception):
    """A client command is longer than the limit; raised before its bytes are read. ``seq`` is the sequence id
    of the packet whose header crossed the limit (the answer continues from it)."""

    def __init__(self, message: str, seq: int = 0) -> None:
        super().__init__(message)
        self.seq = seq


class ReadTimedOut(ConnectionClosed):
    """The peer started a packet and did not send the rest of it within ``read_timeout``."""


class PacketStream:
    __slots__ = ("buf", "limit", "read_timeout", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int = 1 << 30) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.limit = limit  # the largest payload read_packet accepts (joined continuation packets included)
        # seconds the rest of a started packet may take (None: no bound); waiting for a packet to start is the
        # idle time, bounded elsewhere (wait_timeout)
        self.read_timeout: float | None = None

    async def _fill_rest(self) -> None:
        """Read more of a packet that has begun: bounded by ``read_timeout``, so a client that stops half-way
        through a packet holds its session for that long, not for wait_timeout."""
        if self.read_timeout is None:
            await self.fill()
            return
        try:
            async with asyncio.timeout(self.read_timeout):
                await self.fill()
        except TimeoutError:
            raise ReadTimedOut(f"no more of a started packet within {self.read_timeout:g} s") from None

    async def fill(self) -> None:
        try:
            data = await self.reader.read(262144)
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(str(exc)) from exc
        if not data:
            raise ConnectionClosed("connection closed by peer")
        self.buf += data

    def try_payload(self) -> bytes | None:
        """The next payload if it is already buffered whole (no await: the fast path for result rows)."""
        buf = self.buf
        if len(buf) < 4:
            return None
        length = buf[0] | buf[1] << 8 | buf[2] << 16
        if len(buf) < 4 + length or length >= MAX_PACKET:
            return None
        payload = bytes(buf[4 : 4 + length])
        del buf[: 4 + length]
        return payload

    async def read_packet(self) -> tuple[int, bytes]:
        """Return (sequence id, payload); payloads split over several 16 MiB packets are joined."""
        payload = b""
        while True:
            buf = self.buf
            while len(buf) < 4:
                await (self._fill_rest() if buf or payload else self.fill())
            length = buf[0] | buf[1] << 8 | buf[2] << 16
            if len(payload) + length > self.limit:
                raise PacketTooLarge(f"a packet of more than {self.limit} bytes", buf[3])
            while len(buf) < 4 + length:
                await self._fill_rest()
            seq = buf[3]
            part = bytes(buf[4 : 4 + length])
            del buf[: 4 + length]
            if length < MAX_PACKET:
                return seq, payload + part if payload else part
            payload += part

    async def skip_packet(self, budget: int) -> int | None:
        """Read and drop the packet whose header is at the start of the buffer, with its continuation packets,
        keeping nothing; the sequence id of its last packet, or None after ``budget`` bytes (the peer is then
        not worth an answer)."""
        buf = self.buf
        while True:
            while len(buf) < 4:
                await self._fill_rest()
            length = buf[0] | buf[1] << 8 | buf[2] << 16
            seq = buf[3]
            left = 4 + length
            while left:
                if not buf:
                    await self._fill_rest()
                n = min(left, len(buf))
                del buf[:n]
                left -= n
                budget -= n
                if budget < 0:
                    return None
            if length < MAX_PACKET:
                return seq

    def write(self, payload: bytes, seq: int) -> None:
        self.writer.write(frame(payload, seq))

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
