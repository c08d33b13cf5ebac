"""Plan cache: (logical database, session reading, statement text) -> plan, least recently used evicted.

A repeated statement costs a dict lookup instead of a tokenize + parse + rewrite. The session's reading
(sql_mode's ANSI_QUOTES, NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT) is part of the key: the same text is another
statement under another sql_mode."""

from __future__ import annotations

from collections import OrderedDict

from dbproxy.executor.affinity import creates_session_state
from dbproxy.executor.plans.base import Plan
from dbproxy.planner.planner import Planner
from dbproxy.router.dialects import DEFAULT_READING, Reading


class PlanCache:
    def __init__(self, planner: Planner, capacity: int = 4096) -> None:
        self.planner = planner
        self.capacity = capacity
        self._plans: OrderedDict[tuple[str | None, Reading, str], Plan] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def peek(self, sql: str, db: str | None, reading: Reading = DEFAULT_READING) -> Plan | None:
        plan = self._plans.get((db, reading, sql))
        if plan is not None:
            self.hits += 1
        return plan

    def get(self, sql: str, db: str | None, reading: Reading = DEFAULT_READING) -> Plan:
        key = (db, reading, sql)
        plan = self._plans.get(key)
        if plan is not None:
            self.hits += 1
            self._plans.move_to_end(key)
            return plan
        self.misses += 1
        plan = self.planner.plan(sql, db, reading)
        if creates_session_state(sql):
            plan = plan.holding_session()
        self._plans[key] = plan
        if len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return plan

    def __len__(self) -> int:
        return len(self._plans)
