"""information_schema reads, SHOW answers about tables and maintenance statements (ANALYZE TABLE ...): answered
by the default backend, with physical names translated to logical ones (a client never sees a physical name)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.executor.plans.route import Route
from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue


def _logical(value: bytes | None, names: dict[bytes, bytes], quoted: list[tuple[bytes, bytes]]) -> bytes | None:
    """A value of an answer about tables, with physical names made logical: whole values (a Name column) and
    quoted names inside text (SHOW CREATE TABLE, a view's definition)."""
    if value is None:
        return None
    mapped = names.get(value)
    if mapped is not None:
        return mapped
    if b"`" in value:
        for physical, logical in quoted:
            value = value.replace(physical, logical)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemRead(Route):
    # physical name -> logical name in the answer (None: the session database's tables, known at run time)
    names: dict[bytes, bytes] | None = None

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """Rows that become identical once translated (like two shards of one table) are shown once."""
        db = run.ctx.schema.get(run.state.database)
        (result,) = await run.run_text(self.targets, [0], params, begin=not self.implicit_commit)
        if db is None or not result.columns:
            run.reply([result], params, binary=req is not None, merge=self.merge)
            return
        names = self.names if self.names is not None else db.logical_names()
        quoted = [(b"`" + p + b"`", b"`" + q + b"`") for p, q in names.items() if p != q]
        rows: list[list[bytes | None]] = []
        seen: set[tuple[bytes | None, ...]] = set()
        for row in result.rows:
            mapped = [_logical(v, names, quoted) for v in row]
            key = tuple(mapped)
            if key not in seen:
                seen.add(key)
                rows.append(mapped)
        run.client.result(result.columns, rows, req is not None)
