"""Statements the proxy answers itself: they describe the logical view (databases, tables, the session)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dbproxy.context import ProxyContext
from dbproxy.errors import NoDatabaseSelected, ProxyError
from dbproxy.executor.backend import BackendConnection
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.state import SessionState
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.plan import Plan, Target
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
    if handler == "show_databases":
        dbs = ["information_schema", *sorted(db.name for db in ex.ctx.schema.databases.values())]
        ex.client.result([_text_col("Database")], [[n.encode()] for n in dbs], binary)
    elif handler == "show_tables":
        await _show_tables(ex, bool(plan.extra.get("full")), binary)
    elif handler == "forward_any":
        backend = ex.default_backend()
        target = Target(backend, Template.literal(str(plan.extra["sql"])))
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
