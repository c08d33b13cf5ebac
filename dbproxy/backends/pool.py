"""Connection pools, one per backend. Idle connections are grouped by what makes them differ for a client:
FOUND_ROWS, character set and the session variables replayed on them."""

from __future__ import annotations

import asyncio
from collections import deque

from dbproxy.backends.connection import BackendConnection
from dbproxy.config import BackendAccount, BackendDSN, PoolSettings, ProxyConfig
from dbproxy.errors import BackendUnavailable, TooManyConnections

PoolKey = tuple[bool, int, tuple[str, ...]]


class BackendPool:
    """At most ``max_connections`` connections to one backend; a session that finds none free waits up to
    ``connect_timeout`` for one (connections pinned by open transactions only come back at COMMIT/ROLLBACK)."""

    def __init__(self, name: str, dsn: BackendDSN, settings: PoolSettings) -> None:
        self.name = name
        self.dsn = dsn
        self.settings = settings
        self.idle: dict[PoolKey, list[BackendConnection]] = {}
        self.open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self, found_rows: bool, charset: int, session_vars: tuple[str, ...]) -> BackendConnection | None:
        """An idle connection, without awaiting (the common case on the hot path)."""
        idle = self.idle.get((found_rows, charset, session_vars))
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.released = False
                return conn
            self._forget(conn)
        return None

    async def acquire(self, found_rows: bool, charset: int, session_vars: tuple[str, ...]) -> BackendConnection:
        conn = self.try_acquire(found_rows, charset, session_vars)
        if conn is not None:
            return conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.connect_timeout
        while self.open >= self.settings.max_connections:
            if self._evict_idle():
                break  # an idle connection of another kind made room
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise TooManyConnections(
                    f"Too many connections to backend '{self.name}': all {self.settings.max_connections} are in use"
                    f" (pool.max_connections); waited {self.settings.connect_timeout:g} s"
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            conn = self.try_acquire(found_rows, charset, session_vars)
            if conn is not None:
                return conn
        self.open += 1  # the slot is taken before connecting, so concurrent connects cannot exceed the limit
        try:
            conn = await BackendConnection.connect(
                self.name, self.dsn, charset=charset, found_rows=found_rows, timeout=self.settings.connect_timeout
            )
        except BaseException:
            self.open -= 1
            self._wake()
            raise
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

    def _evict_idle(self) -> bool:
        for idle in self.idle.values():
            if idle:
                self._forget(idle.pop())
                return True
        return False

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _forget(self, conn: BackendConnection) -> None:
        conn.close()
        self.open -= 1

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
        self._wake()

    async def release_reset(self, conn: BackendConnection) -> None:
        """Return a connection that carried one session's state (user variables, temporary tables, named
        locks): COM_RESET_CONNECTION clears all of it, then the pool's baseline is applied again. One that
        cannot be reset is closed, which clears it too."""
        if conn.broken or conn.in_transaction or conn.pending:
            self.discard(conn)
            return
        try:
            await conn.reset()
            if self.settings.lock_wait_timeout is not None:
                await conn.execute(f"SET SESSION innodb_lock_wait_timeout = {int(self.settings.lock_wait_timeout)}")
        except Exception:
            self.discard(conn)
            return
        self.release(conn)

    def discard(self, conn: BackendConnection) -> None:
        self._forget(conn)
        self._wake()

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


class Pools:
    """One pool per backend for the backend DSNs' account (recovery, users without their own account), and
    one set per ``users.<name>.backend_account``: sessions of that user only ever use their account's."""

    def __init__(self, config: ProxyConfig, account: BackendAccount | None = None) -> None:
        self.config = config
        self.pools = {
            name: BackendPool(name, _as_account(config.backend_dsn(name), account), config.pool)
            for name in config.backends
        }
        self._accounts: dict[str, Pools] = {}

    def for_user(self, user: str) -> Pools:
        """The pools a session of proxy user ``user`` uses."""
        spec = self.config.user(user)
        account = spec.backend_account if spec is not None else None
        if account is None:
            return self
        pools = self._accounts.get(account.user)
        if pools is None:
            pools = self._accounts[account.user] = Pools(self.config, account)
        return pools

    def __getitem__(self, backend: str) -> BackendPool:
        pool = self.pools.get(backend)
        if pool is None:
            raise BackendUnavailable(backend, "not configured")
        return pool

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        for pools in self._accounts.values():
            pools.close()


def _as_account(dsn: BackendDSN, account: BackendAccount | None) -> BackendDSN:
    if account is None:
        return dsn
    return dsn.model_copy(update={"user": account.user, "password": account.password})
