"""TLS on an already-open client connection (MySQL's SSLRequest), done in memory over the stream.

asyncio's own ``start_tls`` cannot be used: the client sends its TLS ClientHello right behind the SSLRequest
packet without waiting, so those bytes may already sit in the packet buffer, where asyncio's TLS layer would
never see them. Here they are fed to the TLS engine first."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from dbproxy.protocol.stream import ConnectionClosed, PacketStream


class TlsReader:
    __slots__ = ("incoming", "obj", "raw")

    def __init__(self, raw: asyncio.StreamReader, obj: ssl.SSLObject, incoming: ssl.MemoryBIO) -> None:
        self.raw = raw
        self.obj = obj
        self.incoming = incoming

    async def read(self, n: int) -> bytes:
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                data = await self.raw.read(65536)
                if not data:
                    return b""
                self.incoming.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLError):
                return b""  # the peer closed TLS, or sent garbage: the connection is over


class TlsWriter:
    __slots__ = ("obj", "outgoing", "raw")

    def __init__(self, raw: asyncio.StreamWriter, obj: ssl.SSLObject, outgoing: ssl.MemoryBIO) -> None:
        self.raw = raw
        self.obj = obj
        self.outgoing = outgoing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.raw.is_closing():
            return
        self.obj.write(data)
        self.raw.write(self.outgoing.read())

    async def drain(self) -> None:
        await self.raw.drain()

    @property
    def transport(self) -> asyncio.WriteTransport:
        return self.raw.transport  # type: ignore[return-value]

    def close(self) -> None:
        self.raw.close()

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.obj
        return self.raw.get_extra_info(name, default)


async def start_tls(stream: PacketStream, context: ssl.SSLContext) -> None:
    """Run the server side of the TLS handshake, then make ``stream`` read and write through TLS."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_side=True)
    if stream.buf:
        incoming.write(bytes(stream.buf))  # the ClientHello, if it came with the SSLRequest
        stream.buf.clear()
    reader, writer = stream.reader, stream.writer
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                writer.write(pending)
            data = await reader.read(65536)
            if not data:
                raise ConnectionClosed("closed during the TLS handshake") from None
            incoming.write(data)
        except ssl.SSLError as exc:
            raise ConnectionClosed(f"TLS handshake failed: {exc.reason}") from None
    pending = outgoing.read()
    if pending:
        writer.write(pending)
    stream.reader = TlsReader(reader, obj, incoming)  # type: ignore[assignment]
    stream.writer = TlsWriter(writer, obj, outgoing)  # type: ignore[assignment]
