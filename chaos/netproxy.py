"""A small fault-injecting TCP proxy: one ``Link`` per pair of processes (caller→coordinator,
coordinator→store, coordinator→participant, participant→its database). This sandbox has no ``tc netem``, so
network faults happen here, switched at run time:

- ``latency``: every chunk waits ``delay`` seconds before it is forwarded (both directions);
- ``reset``: open connections are aborted (RST) and new ones are reset at once;
- ``blackhole``: connections stay open but nothing is forwarded either way, new ones included;
- ``partition``: one direction only (``forward`` = client→server, ``backward`` = server→client) is cut.

A blackholed or partitioned direction *holds* its bytes (stops reading, so the sender's buffers fill) and
delivers them when the fault is lifted, as TCP retransmission would after a real network partition heals.
Dropping them instead would cut bytes out of the middle of a stream, which no network does to TCP: a database
connection would wait forever for a reply that was deleted (an early version of this proxy did exactly that,
and the 10-minute run "found" participants hung for good).

Counters (connections, bytes, resets, held and delayed chunks) show that a fault actually hit traffic."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LinkStats:
    connections: int = 0
    bytes: int = 0
    resets: int = 0
    held: int = 0
    delayed: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Fault:
    kind: str = "none"  # none | latency | reset | blackhole | partition
    delay: float = 0.0
    direction: str = ""  # partition: forward | backward


@dataclass
class Link:
    """Listens on ``port`` and forwards to ``target`` (host, port), applying ``fault``."""

    name: str
    target: tuple[str, int]
    port: int = 0
    fault: Fault = field(default_factory=Fault)
    stats: LinkStats = field(default_factory=LinkStats)
    _server: asyncio.AbstractServer | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()

    def set(self, fault: Fault) -> None:
        self.fault = fault
        self._changed.set()  # wake pumps holding data: they re-read the fault
        self._changed = asyncio.Event()
        if fault.kind == "reset":
            self._abort_all()

    def heal(self) -> None:
        self.set(Fault())

    def _blocked(self, direction: str) -> bool:
        fault = self.fault
        return fault.kind == "blackhole" or (fault.kind == "partition" and fault.direction == direction)

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            self._abort(writer)

    def _abort(self, writer: asyncio.StreamWriter) -> None:
        sock: Any = writer.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            # SO_LINGER 0: close sends RST, like a middlebox dropping the connection state
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()
        self._writers.discard(writer)
        self.stats.resets += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        if self.fault.kind == "reset":
            self._writers.add(writer)
            self._abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.add(writer)
            self._abort(writer)
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pump(reader, up_writer, "forward"), self._pump(up_reader, writer, "backward"))
        except asyncio.CancelledError:
            pass  # the harness is shutting down: end quietly (asyncio's stream callback would log a traceback)
        finally:
            for w in (writer, up_writer):
                if w in self._writers:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self._blocked(direction):
                    self.stats.held += 1
                    while self._blocked(direction):
                        await self._changed.wait()
                fault = self.fault
                if fault.kind == "latency" and fault.delay > 0:
                    self.stats.delayed += 1
                    await asyncio.sleep(fault.delay)
                self.stats.bytes += len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # one side closed: close the other too, or a half-open pair lingers
            if writer in self._writers:
                self._writers.discard(writer)
                writer.transport.abort()
