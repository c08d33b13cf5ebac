"""The listening server: accepts clients and gives each a Session over the shared ProxyContext."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time

from dbproxy.config import ProxyConfig
from dbproxy.executor.context import ProxyContext
from dbproxy.frontend.session import Session
from dbproxy.plan_cache import PlanCache
from dbproxy.planner.planner import Planner
from dbproxy.protocol.packets import err_payload, frame
from dbproxy.xa.transactions import Committer

log = logging.getLogger("dbproxy")


class ProxyServer:
    """A running proxy. ``await start()`` binds the listen address; ``port`` is then the bound port."""

    def __init__(self, config: ProxyConfig, committer: Committer | None = None) -> None:
        self.config = config
        self.context = ProxyContext.build(config, committer)
        self.plans = PlanCache(Planner(self.context.schema, config.limits.max_parse_depth))
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.port = config.listen_port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.config.listen_host, self.config.listen_port, reuse_address=True, backlog=512
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.get_running_loop().create_task(self._close_idle())
        log.info("dbproxy listening on %s:%d", self.config.listen_host, self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # what a slow reader may make the proxy hold: above it a relay stops reading from the backend until
        # the client has read enough (drain waits for the low-water mark, a quarter of it)
        writer.transport.set_write_buffer_limits(high=self.config.limits.client_buffer)
        if len(self._sessions) >= self.config.limits.max_connections:
            # MySQL's refusal instead of a greeting; the client reads it as the first packet
            writer.write(frame(err_payload(1040, "08004", "Too many connections"), 0))
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        conn_id = next(self._ids)
        try:
            await Session(self.context, self.plans, reader, writer, conn_id).run()
        except Exception as exc:
            # the session's own handlers missed it: one line, never a traceback per connection
            log.error("connection %d ended by an internal error: %s: %s", conn_id, type(exc).__name__, exc)
            log.debug("connection %d internal error", conn_id, exc_info=True)
            writer.close()
        finally:
            if task is not None:
                self._sessions.discard(task)

    async def _close_idle(self) -> None:
        """wait_timeout towards clients: one sweep a second instead of a timer per packet on the hot path."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for state in list(self.context.sessions.values()):
                if state.command == "Sleep" and now - state.since > state.wait_timeout and state.close is not None:
                    log.info("closing connection %d: idle longer than wait_timeout", state.conn_id)
                    state.close()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        self.context.pools.close()
