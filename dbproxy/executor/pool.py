"""Connection pools, one per backend. Idle connections are grouped by what makes them differ for a client:
FOUND_ROWS, character set and the session variables replayed on them."""

from __future__ import annotations

from dbproxy.config import BackendDSN, PoolSettings, ProxyConfig
from dbproxy.errors import BackendUnavailable
from dbproxy.executor.backend import BackendConnection

PoolKey = tuple[bool, int, tuple[str, ...]]


class BackendPool:
    def __init__(self, name: str, dsn: BackendDSN, settings: PoolSettings) -> None:
        self.name = name
        self.dsn = dsn
        self.settings = settings
        self.idle: dict[PoolKey, list[BackendConnection]] = {}
        self.open = 0

    def try_acquire(self, found_rows: bool, charset: int, session_vars: tuple[str, ...]) -> BackendConnection | None:
        """An idle connection, without awaiting (the common case on the hot path)."""
        idle = self.idle.get((found_rows, charset, session_vars))
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.released = False
                return conn
            conn.close()
            self.open -= 1
        return None

    async def acquire(self, found_rows: bool, charset: int, session_vars: tuple[str, ...]) -> BackendConnection:
        conn = self.try_acquire(found_rows, charset, session_vars)
        if conn is not None:
            conn.released = False
            return conn
        conn = await BackendConnection.connect(
            self.name, self.dsn, charset=charset, found_rows=found_rows, timeout=self.settings.connect_timeout
        )
        self.open += 1
        try:
            if self.settings.lock_wait_timeout is not None:
                await conn.execute(f"SET SESSION innodb_lock_wait_timeout = {int(self.settings.lock_wait_timeout)}")
            for statement in session_vars:
                await conn.execute(statement)
        except BaseException:
            self.discard(conn)
            raise
        conn.session_vars = session_vars
        return conn

    def release(self, conn: BackendConnection) -> None:
        """Return a connection after a statement; one that is broken or mid-transaction is closed instead."""
        if conn.released:
            return
        conn.released = True
        if conn.broken or conn.in_transaction or conn.pending or conn.stream.buf:
            self.discard(conn)
            return
        key = (conn.key[1], conn.key[2], conn.session_vars)
        idle = self.idle.setdefault(key, [])
        if len(idle) >= self.settings.max_idle:
            self.discard(conn)
            return
        idle.append(conn)

    def discard(self, conn: BackendConnection) -> None:
        conn.close()
        self.open -= 1

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


class Pools:
    def __init__(self, config: ProxyConfig) -> None:
        self.pools = {name: BackendPool(name, config.backend_dsn(name), config.pool) for name in config.backends}

    def __getitem__(self, backend: str) -> BackendPool:
        pool = self.pools.get(backend)
        if pool is None:
            raise BackendUnavailable(backend, "not configured")
        return pool

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
