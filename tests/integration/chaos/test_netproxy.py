"""The harness's fault-injecting TCP proxy, against a real echo server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from chaos.netproxy import Fault, Link


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = Link("test", ("127.0.0.1", port))
    await link.start()
    yield link
    await link.close()
    server.close()


async def _roundtrip(link: Link, payload: bytes = b"ping", timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    finally:
        writer.close()


async def test_a_healthy_link_forwards_both_ways(link: Link) -> None:
    assert await _roundtrip(link) == b"ping"
    assert link.stats.bytes == 8 and link.stats.connections == 1


async def test_latency_delays_every_chunk(link: Link) -> None:
    link.set(Fault("latency", delay=0.3))
    started = time.monotonic()
    assert await _roundtrip(link) == b"ping"
    assert time.monotonic() - started >= 0.6  # one delay each way: a lower bound, never an upper one
    assert link.stats.delayed == 2


async def _send(link: Link, payload: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
    writer.write(payload)
    await writer.drain()
    return reader, writer


async def test_blackhole_holds_everything_and_heal_delivers_it_like_tcp(link: Link) -> None:
    link.set(Fault("blackhole"))
    reader, writer = await _send(link, b"ping")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    assert link.stats.held == 1 and link.stats.bytes == 0
    link.heal()
    # the held request reaches the server and its reply comes back: no bytes vanish from a stream
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()
    assert await _roundtrip(link) == b"ping"


async def test_one_way_partition_passes_requests_and_holds_replies(link: Link) -> None:
    link.set(Fault("partition", direction="backward"))
    reader, writer = await _send(link, b"ping")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.5)
    assert link.stats.held == 1 and link.stats.bytes == 4  # the request went through, the reply did not
    link.heal()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()


async def test_reset_aborts_open_connections_and_refuses_new_ones(link: Link) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
    writer.write(b"x")
    await writer.drain()
    assert await reader.readexactly(1) == b"x"
    link.set(Fault("reset"))
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await _roundtrip(link)
    assert link.stats.resets >= 2
    writer.close()
