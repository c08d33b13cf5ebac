"""Answers about sessions, from the proxy's own state: DATABASE(), USER(), LAST_INSERT_ID() and friends alone in
a select list, SHOW GRANTS, SHOW PROCESSLIST and KILL (of the user's own sessions, by the proxy's ids)."""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.errors import ProxyError
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.plans.catalog import text_column
from dbproxy.executor.runner import Runner
from dbproxy.executor.state import SessionState
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue


class SessionValue(enum.Enum):
    """A value of the client's session a select list may ask for."""

    DATABASE = "database"
    AUTOCOMMIT = "autocommit"
    WAIT_TIMEOUT = "wait_timeout"
    USER = "user"
    CURRENT_USER = "current_user"
    CONNECTION_ID = "connection_id"
    LAST_INSERT_ID = "last_insert_id"

    def answer(self, name: str, state: SessionState) -> tuple[Column, bytes | None]:
        """The column (named ``name``) and the value this session has."""
        if self is SessionValue.DATABASE:
            return text_column(name), state.database.encode() if state.database else None
        if self is SessionValue.AUTOCOMMIT:
            return Column(name, ColumnType.LONGLONG, 63, 1, 0x80 | 0x01), b"1" if state.autocommit else b"0"
        if self is SessionValue.WAIT_TIMEOUT:
            return Column(name, ColumnType.LONGLONG, 63, 21, 0x80 | 0x20), str(state.wait_timeout).encode()
        if self is SessionValue.USER or self is SessionValue.CURRENT_USER:
            # the proxy user, never the backend account (MariaDB's spelling: user@host, user@% for the grant)
            host = state.host if self is SessionValue.USER else "%"
            return Column(name, ColumnType.VAR_STRING, 45, 564), f"{state.user}@{host}".encode()
        if self is SessionValue.CONNECTION_ID:
            return Column(name, ColumnType.LONGLONG, 63, 10, 0x20 | 0x80 | 0x01), str(state.conn_id).encode()
        return Column(name, ColumnType.LONGLONG, 63, 21, 0x20 | 0x80), str(state.last_insert_id).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionValues(Plan):
    """SELECT DATABASE(), USER(), @@autocommit ...: one row of the session's values."""

    values: tuple[SessionValue, ...]
    columns: tuple[str, ...]  # each column's name, as the client wrote the expression (or its alias)

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        answers = [value.answer(name, run.state) for value, name in zip(self.values, self.columns, strict=True)]
        run.client.result([column for column, _ in answers], [[value for _, value in answers]], req is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowGrants(Plan):
    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        state = run.state
        who = f"`{state.user}`@`%`"
        grants = state.grants
        if grants is None:
            lines = [f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO {who}" for db in run.ctx.schema.databases.values()]
        else:
            lines = []
            for name, read_write in sorted(grants.items()):
                db = run.ctx.schema.get(name)
                privileges = "ALL PRIVILEGES" if read_write else "SELECT, SHOW VIEW"
                lines.append(f"GRANT {privileges} ON `{db.name if db else name}`.* TO {who}")
        rows: list[list[bytes | None]] = [[line.encode()] for line in lines]
        run.client.result([text_column(f"Grants for {state.user}@%")], rows, req is not None)


def _same_user(run: Runner) -> list[tuple[int, SessionState]]:
    """The sessions a user may see and kill: its own (as a MySQL user without PROCESS sees its threads)."""
    return sorted((i, s) for i, s in run.ctx.sessions.items() if s.user == run.state.user)


@dataclass(frozen=True, slots=True, kw_only=True)
class Processlist(Plan):
    full: bool = False  # SHOW FULL PROCESSLIST: statements not cut at 100 characters

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        now = time.monotonic()
        names = ["Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"]
        columns = [text_column(n) for n in names]
        columns[0] = Column("Id", ColumnType.LONGLONG, 63, 21, 0x01 | 0x20 | 0x80)
        columns[5] = Column("Time", ColumnType.LONG, 63, 7, 0x01 | 0x80)
        rows: list[list[bytes | None]] = []
        for conn_id, s in _same_user(run):
            info = s.info if s is not run.state else (s.info or "SHOW PROCESSLIST")  # this statement, as written
            if info is not None and not self.full:
                info = info[:100]
            rows.append(
                [
                    str(conn_id).encode(),
                    s.user.encode(),
                    s.host.encode(),
                    s.database.encode() if s.database else None,
                    (b"Query" if s is run.state else s.command.encode()),
                    str(int(now - s.since) if s.since else 0).encode(),
                    b"",
                    info.encode() if info is not None else None,
                    b"0.000",
                ]
            )
        run.client.result(columns, rows, req is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill(Plan):
    """KILL of one of the user's own sessions (the proxy's ids); another user's is ER_KILL_DENIED_ERROR."""

    target: int  # the proxy's connection id
    query_only: bool = False  # KILL QUERY

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        target = self.target
        other = run.ctx.sessions.get(target)
        if other is None:
            raise ProxyError(f"Unknown thread id: {target}", code=1094)
        if other.user != run.state.user:
            raise ProxyError(f"You are not owner of thread {target}", code=1095)
        if self.query_only:
            if other is not run.state and other.command == "Query":
                # interrupting a statement on its backends is not built: say so rather than answer OK and let it run
                raise ProxyError(
                    f"KILL QUERY of a statement that is running is not supported yet (thread {target}); "
                    f"KILL {target} ends that session",
                    code=1235,
                )
            run.client.ok()  # as in MySQL: a session that is not running a statement is unaffected
            return
        if other is run.state:
            raise ProxyError("Connection was killed", code=1927, sqlstate="70100")
        if other.close is not None:
            other.close()
        run.client.ok()
