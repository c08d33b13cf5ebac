"""INSERT into a sharded table: each row goes to the node its shard-key value maps to (one multi-row INSERT per
node, all or nothing), and rows without a key get one the proxy generates (``executor/keys.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.errors import NotSupported
from dbproxy.executor.plans.base import Routed
from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue, sql_literal
from dbproxy.router.rules import ShardRule
from dbproxy.router.targets import Ref
from dbproxy.router.template import Template


@dataclass(frozen=True, slots=True)
class InsertRow:
    key: Ref | None  # None: the row has no shard-key value (the proxy generates one)
    per_node: tuple[Template, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Insert(Routed):
    rule: ShardRule
    rows: tuple[InsertRow, ...]
    prefixes: tuple[Template, ...]  # per node: INSERT INTO <its table> (columns) VALUES
    suffixes: tuple[Template, ...]  # per node: ON DUPLICATE KEY UPDATE ..., RETURNING ...
    shard_column: str
    physical_tables: tuple[str, ...]  # per node: the shard's table (where generated keys start: MAX over them)
    key_table: str | None = None  # sharded table whose key the proxy generates for rows without one
    key_column: str | None = None  # the key column, when the statement's column list lacks it

    @property
    def changes_rows(self) -> bool:
        return True

    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        return "single" if len(self.targets) <= 1 else "scatter"

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        rule = self.rule
        rows = self.rows
        table = (run.state.database or "", self.key_table or "")
        keys: list[object] = [row.key.get(params) if row.key is not None else None for row in rows]
        generate = [self.key_table is not None and (k is None or k == 0 or k == b"0") for k in keys]
        first_generated = 0
        if any(generate):
            first_generated = await run.ctx.keys.allocate(table, sum(generate), lambda: self._max_key(run))
            n = first_generated
            for i, g in enumerate(generate):
                if g:
                    keys[i] = n
                    n += 1
        nodes: list[int] = []
        for k in keys:
            node = rule.node_of(k)
            if node is None:
                raise NotSupported(f"a shard-key value ({k!r}) that cannot be placed on a shard")
            nodes.append(node)
            if self.key_table and isinstance(k, int):
                run.ctx.keys.observe(table, k)
        if not any(generate) and len(set(nodes)) == 1:
            target = self.targets[nodes[0]]
            if req is None or target.relayable:
                await run.relay(target, params, req, bounded=True)
                return
        # split: one multi-row INSERT per node
        per_node: dict[int, list[str]] = {}
        for row, key, gen, node in zip(rows, keys, generate, nodes, strict=True):
            row_params: Sequence[ParamValue] = params
            key_text = key if isinstance(key, str) else sql_literal(key)  # type: ignore[arg-type]
            if gen and row.key is not None and row.key.param is not None:
                row_params = list(params)
                row_params[row.key.param] = key  # type: ignore[call-overload]
            text = row.per_node[0].render(row_params, {"key": key_text})
            if self.key_column is not None:
                text = "(" + key_text + ", " + text[1:]
            per_node.setdefault(node, []).append(text)
        statements: dict[int, str] = {}
        for node, texts in per_node.items():
            prefix = self.prefixes[node].render(params)
            if self.key_column is not None:
                cut = prefix.rfind("(") + 1
                prefix = prefix[:cut] + "`" + self.key_column + "`, " + prefix[cut:]
            statements[node] = prefix + ",".join(texts) + self.suffixes[node].render(params)
        work = run.run_statements(self.targets, statements)
        results = await (run.atomically(work) if len(statements) > 1 else work)
        if results and results[0].columns:  # INSERT ... RETURNING: the rows of every node, in node order
            run.client.result(results[0].columns, [row for r in results for row in r.rows], req is not None)
            if first_generated:
                run.state.last_insert_id = first_generated
            return
        affected = sum(r.ok.affected for r in results if r.ok is not None)
        insert_id = first_generated or next((r.ok.insert_id for r in results if r.ok and r.ok.insert_id), 0)
        if insert_id:
            run.state.last_insert_id = insert_id
        run.client.ok(affected, insert_id)

    async def _max_key(self, run: Runner) -> int:
        """MAX(shard key) over every node: where generated keys start."""
        column = self.shard_column.replace("`", "``")
        best = 0
        for target, physical in zip(self.targets, self.physical_tables, strict=True):
            pool = run.state.txn.pools[target.backend]
            conn = await pool.acquire(False, run.state.charset, ())
            try:
                result = await conn.query(f"SELECT MAX(`{column}`) FROM `{physical.replace('`', '``')}`")
            finally:
                pool.release(conn)
            value = result.rows[0][0] if result.rows else None
            if value is not None:
                best = max(best, int(value))
        return best
