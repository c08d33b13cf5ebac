"""Packet framing over an asyncio stream, with one buffer so a relay can forward many packets per write."""

from __future__ import annotations

import asyncio

from dbproxy.protocol.constants import MAX_PACKET
from dbproxy.protocol.packets import frame


class ConnectionClosed(Exception):
    """The peer closed the connection (or it broke) while a packet was expected."""


class PacketTooLarge(Exception):
    """A client command is longer than the limit; raised before its bytes are read."""


class PacketStream:
    __slots__ = ("buf", "limit", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int = 1 << 30) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.limit = limit  # the largest payload read_packet accepts (joined continuation packets included)

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
                await self.fill()
            length = buf[0] | buf[1] << 8 | buf[2] << 16
            if len(payload) + length > self.limit:
                raise PacketTooLarge(f"a packet of more than {self.limit} bytes")
            while len(buf) < 4 + length:
                await self.fill()
            seq = buf[3]
            part = bytes(buf[4 : 4 + length])
            del buf[: 4 + length]
            if length < MAX_PACKET:
                return seq, payload + part if payload else part
            payload += part

    def write(self, payload: bytes, seq: int) -> None:
        self.writer.write(frame(payload, seq))

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
