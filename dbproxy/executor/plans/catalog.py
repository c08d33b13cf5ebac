"""The logical catalog, answered by the proxy: the databases a user may see, a database's tables (its sharded
and broadcast tables by their logical names, never the shards'), dropping a logical database, and statements
about no table that any backend answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.errors import NoDatabaseSelected
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import Runner
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.session_functions import with_slots
from dbproxy.router.targets import Target
from dbproxy.router.template import Template


def text_column(name: str) -> Column:
    return Column(name, ColumnType.VAR_STRING, 45, 256)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerOk(Plan):
    """A statement that has nothing to do here (UNLOCK TABLES, CREATE DATABASE of a logical database)."""

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        run.client.ok()


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowDatabases(Plan):
    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        state = run.state
        mine = sorted(db.name for db in run.ctx.schema.databases.values() if state.may_use(db.name))
        names = ["information_schema", *mine]
        run.client.result([text_column("Database")], [[n.encode()] for n in names], req is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowTables(Plan):
    full: bool = False  # SHOW FULL TABLES: with a Table_type column

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        db = run.ctx.schema.get(run.state.database)
        if db is None:
            raise NoDatabaseSelected()
        conn, pinned = await run.conn(db.default_backend, begin=False)
        try:
            result = await conn.query("SHOW FULL TABLES")
        finally:
            run.done(conn, pinned)
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
        columns = [text_column(f"Tables_in_{db.name}")]
        if self.full:
            columns.append(text_column("Table_type"))
        rows: list[list[bytes | None]] = []
        for name in sorted(tables, key=str.lower):
            rows.append([name.encode(), tables[name]] if self.full else [name.encode()])
        run.client.result(columns, rows, req is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropDatabase(Plan):
    """DROP DATABASE of a logical database: every table it has, on every backend (the physical databases stay:
    they come from the config). Shard tables of the database live on their nodes, broadcast copies on every
    backend, everything else on the default backend."""

    db: str

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        db = run.ctx.schema.get(self.db)
        if db is None:
            raise NoDatabaseSelected()
        await run.commit_open()  # DDL commits an open transaction first, as in MariaDB
        per_backend: dict[str, set[str]] = {b: set() for b in db.backends}
        for info in db.sharded.values():
            for node in info.config.nodes:
                per_backend[node.backend].add(node.table)
        for backend in db.backends:
            per_backend[backend] |= set(db.broadcast)
        dropped = 0
        for backend, known in per_backend.items():
            conn, pinned = await run.conn(backend, begin=False)
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
                run.done(conn, pinned)
        run.client.ok(dropped)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardAny(Plan):
    """A statement about no table with no database selected (SELECT 1, SHOW VARIABLES): the default backend
    answers it, as written."""

    sql: str

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        target = Target(run.default_backend(), with_slots(Template.literal(self.sql)))
        await run.relay(target, (), None)
