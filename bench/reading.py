"""What reading statements as MariaDB does costs the proxy, per statement, on one core (no servers needed).

For a few representative statements it times:

- ``cached``: the hot path, a plan cache hit (what every repeated statement and prepared execute pays);
- ``plan``: a full plan on a cache miss (read + tokenize + cross-check + parse + check + rewrite);
- ``reading``: the part of ``plan`` this module's checks add (executable comments expanded, the MariaDB lexer
  model, the cross-check with sqlglot's tokens);
- ``regenerate``: what Vitess's approach would add on a miss (parse, then render the backend's text from the
  tree); with the plan cache keying templates it is paid per distinct statement, like ``plan``;
- ``normalize``: lifting literals from a text statement (paid per text statement whose literals changed).

Numbers are microseconds per statement, the median of several repeats; ``txc bench reading``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from dbproxy.config import parse_config
from dbproxy.plan_cache import PlanCache
from dbproxy.planner.planner import Planner
from dbproxy.router.dialects import DEFAULT_READING, dialect_for
from dbproxy.router.normalize import normalize
from dbproxy.router.reading import read_text, verify_tokens
from dbproxy.router.schema import LogicalSchema
from dbproxy.router.tokens import tokenize

CONFIG = """
listen: 127.0.0.1:3307
users: {app: secret}
backends:
  ds0: mysql://root@127.0.0.1:3306/s0
  ds1: mysql://root@127.0.0.1:3306/s1
databases:
  app:
    default_backend: ds0
    sharded_tables:
      sbtest1: {column: id, algorithm: mod, nodes: [ds0.sbtest1_0, ds1.sbtest1_1]}
transactions: {mode: best_effort}
"""

STATEMENTS = {
    "point_select": "SELECT c FROM sbtest1 WHERE id = 4711",
    "range_select": "SELECT c FROM sbtest1 WHERE id BETWEEN 100 AND 199 ORDER BY c",
    "update": "UPDATE sbtest1 SET k = k + 1 WHERE id = 4711",
    "insert": "INSERT INTO sbtest1 (id, k, c, pad) VALUES (4711, 1, 'abc-def', 'xyz')",
    "commented": "SELECT /* app:orders */ c FROM plain WHERE s = 'it''s' /*traceparent='00-aa-bb-01'*/",
    "executable_comment": "SELECT c /*!40101 , k */ FROM plain WHERE id = 1",
}


@dataclass(frozen=True)
class Row:
    statement: str
    cached: float
    plan: float
    reading: float
    regenerate: float
    normalize: float


def _per_call(work: Callable[[], object], repeats: int = 5, number: int = 300) -> float:
    """Median microseconds per call over ``repeats`` runs of ``number`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            work()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def run(number: int = 300) -> list[Row]:
    planner = Planner(LogicalSchema(parse_config(CONFIG)))
    return [_measure(name, sql, planner, number) for name, sql in STATEMENTS.items()]


def _measure(name: str, sql: str, planner: Planner, number: int) -> Row:
    dialect = dialect_for(DEFAULT_READING)
    cache = PlanCache(planner)
    cache.get(sql, "app")
    tokens = tokenize(read_text(sql, DEFAULT_READING).text)

    def reading() -> None:
        verify_tokens(read_text(sql, DEFAULT_READING), tokens)

    def regenerate() -> str:
        tree = dialect.parse(sql)[0]
        assert tree is not None
        return tree.sql(dialect=dialect)

    return Row(
        name,
        cached=_per_call(lambda: cache.peek(sql, "app"), number=number * 10),
        plan=_per_call(lambda: planner.plan(sql, "app"), number=number),
        reading=_per_call(reading, number=number),
        regenerate=_per_call(regenerate, number=number),
        normalize=_per_call(lambda: normalize(sql), number=number),
    )


def render(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="statement reading cost, µs per statement (one core)")
    for column in ("statement", "cached (hot path)", "plan (miss)", "reading checks", "regenerate", "normalize"):
        table.add_column(column, justify="right" if column != "statement" else "left")
    for r in rows:
        table.add_row(
            r.statement,
            *(f"{v:.2f}" for v in (r.cached, r.plan, r.reading, r.regenerate, r.normalize)),
        )
    Console().print(table)
