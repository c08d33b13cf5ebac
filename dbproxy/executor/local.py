"""Statements the proxy answers itself: they describe the logical view (databases, tables, the session)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from dbproxy.backends.connection import BackendConnection
from dbproxy.context import ProxyContext
from dbproxy.errors import NoDatabaseSelected, ProxyError
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.state import SessionState
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.plan import Plan, Target
from dbproxy.router.session_functions import with_slots
from dbproxy.router.template import Template


class Runner(Protocol):
    """What the local answers need of the statement executor that calls them (it passes itself)."""

    ctx: ProxyContext
    state: SessionState
    client: ClientChannel

    def default_backend(self) -> str: ...

    async def conn(self, backend: str, begin: bool = True) -> tuple[BackendConnection, bool]: ...

    def done(self, conn: BackendConnection, pinned: bool) -> None: ...

    async def relay(
        self,
        target: Target,
        params: Sequence[ParamValue],
        req: ExecuteRequest | None,
        retry_read: bool = False,
        begin: bool = True,
    ) -> None: ...


def _text_col(name: str) -> Column:
    return Column(name, ColumnType.VAR_STRING, 45, 256)


async def run_local(ex: Runner, plan: Plan, binary: bool) -> None:
    handler = plan.local
    state = ex.state
    if handler == "show_databases":
        mine = sorted(db.name for db in ex.ctx.schema.databases.values() if state.may_use(db.name))
        ex.client.result([_text_col("Database")], [[n.encode()] for n in ["information_schema", *mine]], binary)
    elif handler == "ok":
        ex.client.ok()
    elif handler == "processlist":
        _processlist(ex, bool(plan.extra.get("full")), binary)
    elif handler == "grants":
        _grants(ex, binary)
    elif handler == "kill":
        _kill(ex, int(plan.extra["id"]), bool(plan.extra.get("query")))  # type: ignore[call-overload]
    elif handler == "drop_database":
        await _drop_database(ex, str(plan.extra["db"]))
    elif handler == "show_tables":
        await _show_tables(ex, bool(plan.extra.get("full")), binary)
    elif handler == "forward_any":
        backend = ex.default_backend()
        target = Target(backend, with_slots(Template.literal(str(plan.extra["sql"]))))
        await ex.relay(target, (), None)
    else:
        kinds = handler.split(",")
        names: list[str] = plan.extra.get("columns") or kinds  # type: ignore[assignment]
        columns = []
        row: list[bytes | None] = []
        for kind, name in zip(kinds, names, strict=True):
            if kind == "database":
                columns.append(_text_col(name))
                row.append(ex.state.database.encode() if ex.state.database else None)
            elif kind == "autocommit":
                columns.append(Column(name, ColumnType.LONGLONG, 63, 1, 0x80 | 0x01))
                row.append(b"1" if ex.state.autocommit else b"0")
            elif kind == "wait_timeout":
                columns.append(Column(name, ColumnType.LONGLONG, 63, 21, 0x80 | 0x20))
                row.append(str(ex.state.wait_timeout).encode())
            elif kind in ("user", "current_user"):
                # the proxy user, never the backend account (MariaDB's spelling: user@host, user@% for the grant)
                host = ex.state.host if kind == "user" else "%"
                columns.append(Column(name, ColumnType.VAR_STRING, 45, 564))
                row.append(f"{ex.state.user}@{host}".encode())
            elif kind == "connection_id":
                columns.append(Column(name, ColumnType.LONGLONG, 63, 10, 0x20 | 0x80 | 0x01))
                row.append(str(ex.state.conn_id).encode())
            elif kind == "last_insert_id":
                columns.append(Column(name, ColumnType.LONGLONG, 63, 21, 0x20 | 0x80))
                row.append(str(ex.state.last_insert_id).encode())
            else:
                raise ProxyError(f"unknown local statement {kind}")
        ex.client.result(columns, [row], binary)


async def _show_tables(ex: Runner, full: bool, binary: bool) -> None:
    db = ex.ctx.schema.get(ex.state.database)
    if db is None:
        raise NoDatabaseSelected()
    conn, pinned = await ex.conn(db.default_backend, begin=False)
    try:
        result = await conn.query("SHOW FULL TABLES")
    finally:
        ex.done(conn, pinned)
    hidden = db.physical_names(db.default_backend)
    tables: dict[str, bytes] = {}
    for raw, kind in ((r[0], r[1]) for r in result.rows):
        if raw is not None and raw.decode().lower() not in hidden:
            tables[raw.decode()] = kind or b"BASE TABLE"
    for info in db.sharded.values():
        tables[info.name] = b"BASE TABLE"
    for bname in db.broadcast:
        if bname not in {t.lower() for t in tables}:
            tables[bname] = b"BASE TABLE"
    columns = [_text_col(f"Tables_in_{db.name}")]
    if full:
        columns.append(_text_col("Table_type"))
    rows: list[list[bytes | None]] = []
    for name in sorted(tables, key=str.lower):
        rows.append([name.encode(), tables[name]] if full else [name.encode()])
    ex.client.result(columns, rows, binary)


async def _drop_database(ex: Runner, name: str) -> None:
    """DROP DATABASE of a logical database: every table it has, on every backend (the physical databases stay:
    they come from the config). Shard tables of the database live on their nodes, broadcast copies on every
    backend, everything else on the default backend."""
    db = ex.ctx.schema.get(name)
    if db is None:
        raise NoDatabaseSelected()
    if ex.state.txn.active:
        await ex.state.txn.commit()  # DDL commits an open transaction first, as in MariaDB
    per_backend: dict[str, set[str]] = {b: set() for b in db.backends}
    for info in db.sharded.values():
        for node in info.config.nodes:
            per_backend[node.backend].add(node.table)
    for backend in db.backends:
        per_backend[backend] |= set(db.broadcast)
    dropped = 0
    for backend, known in per_backend.items():
        conn, pinned = await ex.conn(backend, begin=False)
        try:
            result = await conn.query("SHOW FULL TABLES")
            present = {(r[0] or b"").decode(): r[1] for r in result.rows}
            names = set(present) if backend == db.default_backend else set(present) & known
            views = sorted(n for n in names if present[n] == b"VIEW")
            tables = sorted(n for n in names if present[n] != b"VIEW")
            if views:
                await conn.execute("DROP VIEW IF EXISTS " + ", ".join(_quoted(v) for v in views))
            if tables:
                await conn.execute("DROP TABLE IF EXISTS " + ", ".join(_quoted(t) for t in tables))
            if backend == db.default_backend:
                dropped = len(names)
        finally:
            ex.done(conn, pinned)
    ex.client.ok(dropped)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _same_user(ex: Runner) -> list[tuple[int, SessionState]]:
    """The sessions a user may see and kill: its own (as a MySQL user without PROCESS sees its threads)."""
    return sorted((i, s) for i, s in ex.ctx.sessions.items() if s.user == ex.state.user)


def _processlist(ex: Runner, full: bool, binary: bool) -> None:
    now = time.monotonic()
    names = ["Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"]
    columns = [_text_col(n) for n in names]
    columns[0] = Column("Id", ColumnType.LONGLONG, 63, 21, 0x01 | 0x20 | 0x80)
    columns[5] = Column("Time", ColumnType.LONG, 63, 7, 0x01 | 0x80)
    rows: list[list[bytes | None]] = []
    for conn_id, s in _same_user(ex):
        info = s.info if s is not ex.state else (s.info or "SHOW PROCESSLIST")  # this statement, as written
        if info is not None and not full:
            info = info[:100]
        rows.append(
            [
                str(conn_id).encode(),
                s.user.encode(),
                s.host.encode(),
                s.database.encode() if s.database else None,
                (b"Query" if s is ex.state else s.command.encode()),
                str(int(now - s.since) if s.since else 0).encode(),
                b"",
                info.encode() if info is not None else None,
                b"0.000",
            ]
        )
    ex.client.result(columns, rows, binary)


def _grants(ex: Runner, binary: bool) -> None:
    state = ex.state
    who = f"`{state.user}`@`%`"
    grants = state.grants
    if grants is None:
        lines = [f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO {who}" for db in ex.ctx.schema.databases.values()]
    else:
        lines = []
        for name, read_write in sorted(grants.items()):
            db = ex.ctx.schema.get(name)
            privileges = "ALL PRIVILEGES" if read_write else "SELECT, SHOW VIEW"
            lines.append(f"GRANT {privileges} ON `{db.name if db else name}`.* TO {who}")
    ex.client.result([_text_col(f"Grants for {state.user}@%")], [[line.encode()] for line in lines], binary)


def _kill(ex: Runner, target: int, query_only: bool) -> None:
    """KILL of one of the user's own sessions (the proxy's ids); another user's is ER_KILL_DENIED_ERROR."""
    other = ex.ctx.sessions.get(target)
    if other is None:
        raise ProxyError(f"Unknown thread id: {target}", code=1094)
    if other.user != ex.state.user:
        raise ProxyError(f"You are not owner of thread {target}", code=1095)
    if query_only:
        if other is not ex.state and other.command == "Query":
            # interrupting a statement on its backends is not built: say so rather than answer OK and let it run
            raise ProxyError(
                f"KILL QUERY of a statement that is running is not supported yet (thread {target}); "
                f"KILL {target} ends that session",
                code=1235,
            )
        ex.client.ok()  # as in MySQL: a session that is not running a statement is unaffected
        return
    if other is ex.state:
        raise ProxyError("Connection was killed", code=1927, sqlstate="70100")
    if other.close is not None:
        other.close()
    ex.client.ok()
