"""Statements the proxy answers itself: they describe the logical view (databases, tables, the session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbproxy.errors import NoDatabaseSelected, ProxyError
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.router.plan import Plan, Target
from dbproxy.router.template import Template

if TYPE_CHECKING:
    from dbproxy.frontend.session import Session


def _text_col(name: str) -> Column:
    return Column(name, ColumnType.VAR_STRING, 45, 256)


class LocalHandlers:
    async def run(self, session: Session, plan: Plan, binary: bool) -> None:
        handler = plan.local
        if handler == "show_databases":
            dbs = ["information_schema", *sorted(db.name for db in session.server.schema.databases.values())]
            session._send_result([_text_col("Database")], [[n.encode()] for n in dbs], binary)
        elif handler == "show_tables":
            await self._show_tables(session, bool(plan.extra.get("full")), binary)
        elif handler == "forward_any":
            backend = session._default_backend()
            target = Target(backend, Template.literal(str(plan.extra["sql"])))
            await session._relay(target, (), None)
        else:
            kinds = handler.split(",")
            names: list[str] = plan.extra.get("columns") or kinds  # type: ignore[assignment]
            columns = []
            row: list[bytes | None] = []
            for kind, name in zip(kinds, names, strict=True):
                if kind == "database":
                    columns.append(_text_col(name))
                    row.append(session.db.encode() if session.db else None)
                elif kind == "last_insert_id":
                    columns.append(Column(name, ColumnType.LONGLONG, 63, 21, 0x20 | 0x80))
                    row.append(str(session.last_insert_id).encode())
                else:
                    raise ProxyError(f"unknown local statement {kind}")
            session._send_result(columns, [row], binary)

    async def _show_tables(self, session: Session, full: bool, binary: bool) -> None:
        db = session.server.schema.get(session.db)
        if db is None:
            raise NoDatabaseSelected()
        conn, pinned = await session._conn(db.default_backend, begin=False)
        try:
            result = await conn.query("SHOW FULL TABLES")
        finally:
            session._done(conn, pinned)
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
        session._send_result(columns, rows, binary)

