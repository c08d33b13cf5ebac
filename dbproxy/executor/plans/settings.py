"""SET and USE: the session's own settings. Variables a backend keeps are validated on one backend, then
replayed on every backend connection the session uses; autocommit, the character set and wait_timeout are
the proxy's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from dbproxy.backends.connection import BackendConnection
from dbproxy.errors import NotSupported, ProxyError
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import Runner
from dbproxy.protocol.charsets import CHARSET_COLLATIONS
from dbproxy.protocol.constants import ServerStatus
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.dialects import reading_of_sql_mode

_NO_BACKSLASH = int(ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVariables(Plan):
    autocommit: bool | None = None
    charset: str | None = None  # SET NAMES / CHARACTER SET
    wait_timeout: int | None = None  # enforced by the proxy towards the client
    rest: str | None = None  # a SET of what the backends keep, replayed on every connection of the session

    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        return "session"

    def holding_session(self) -> Self:
        return self  # replayed on every connection instead

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        state = run.state
        rest = self.rest
        if rest is not None:
            # validate on a backend, then remember: every backend connection this session uses replays it
            conn, pinned = await run.conn(run.default_backend(), begin=False)
            try:
                mode_before = await _sql_mode(conn) if "sql_mode" in rest.lower() else None
                await conn.execute(rest)
                conn.session_vars = (*state.variables, rest)
                if mode_before is not None:
                    mode = await _sql_mode(conn)
                    try:
                        # the next statements are read as MariaDB reads them under the new mode
                        state.reading = reading_of_sql_mode(mode)
                    except NotSupported:
                        await conn.execute(f"SET SESSION sql_mode = '{mode_before}'")
                        conn.session_vars = state.variables
                        raise
                    # the client learns NO_BACKSLASH_ESCAPES from the status flags: it changes how it escapes
                    state.mode_status = _NO_BACKSLASH if state.reading.no_backslash_escapes else 0
            finally:
                run.done(conn, pinned)
            state.variables = (*state.variables, rest)
            for other in {*state.txn.pinned.values(), *state.txn.held.values()}:
                if other is not conn:
                    await other.execute(rest)
                    other.session_vars = state.variables
        if self.charset is not None:
            await _set_names(run, self.charset)
        if self.wait_timeout is not None:
            state.wait_timeout = self.wait_timeout
        if self.autocommit is not None:
            if self.autocommit and not state.autocommit and state.txn.active:
                await state.txn.commit()
            state.autocommit = self.autocommit
        run.client.ok()


async def _sql_mode(conn: BackendConnection) -> str:
    value = (await conn.query("SELECT @@SESSION.sql_mode")).rows[0][0] or b""
    return value.decode("ascii", "replace").replace("'", "")  # flag names: letters, digits, _ and commas


async def _set_names(run: Runner, name: str) -> None:
    """SET NAMES/CHARACTER SET: backend connections of this session are opened (or picked idle) with the new
    character set from now on, as the handshake's collation would; pinned ones switch in place."""
    collation = CHARSET_COLLATIONS.get(name.strip("'\"`").lower())
    if collation is None:
        raise ProxyError(f"Unknown character set: '{name}'", code=1115, sqlstate="42000")
    run.state.charset = collation
    for conn in {*run.state.txn.pinned.values(), *run.state.txn.held.values()}:
        await conn.execute(f"SET NAMES {name.strip(chr(39) + chr(34) + chr(96))}")
        conn.key = (conn.key[0], conn.key[1], collation)


@dataclass(frozen=True, slots=True, kw_only=True)
class Use(Plan):
    db: str

    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        return "session"

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        run.use(self.db)
        run.client.ok()
