"""EXPLAIN of a statement: routed like the statement it explains, each node's plan labelled by node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.executor.plans.route import Route
from dbproxy.executor.runner import Runner
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column
from dbproxy.protocol.params import ExecuteRequest, ParamValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Explain(Route):
    labels: tuple[str, ...]  # per node: "backend (node i)"

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """EXPLAIN on each node the statement would run on, rows labelled by node in a first column."""
        nodes = self.choose(params) or [0]
        results = await run.run_text(self.targets, nodes, params, bounded=False)
        first = results[0]
        if not first.columns:
            run.reply(results, params, binary=req is not None, merge=self.merge)
            return
        columns = [Column("node", ColumnType.VAR_STRING, 45, 256), *first.columns]
        names = run.physical_names()
        rows = [
            [self.labels[n].encode(), *(v if v is None or names is None else names.text(v) for v in row)]
            for n, result in zip(nodes, results, strict=True)
            for row in result.rows
        ]  # a shard's plan names its physical table (items_1): the client sees the logical one
        run.client.result(columns, rows, req is not None)
