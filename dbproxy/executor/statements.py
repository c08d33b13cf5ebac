"""Running planned statements for one client session. The session owns one executor; for each statement it
checks the user's grant, marks whether the statement may change rows, and lets the plan execute itself against
the session's connections, state and client channel (``executor/runner.py``, ``executor/plans/``)."""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from dbproxy.errors import ProxyError, database_denied, table_denied
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue

if TYPE_CHECKING:
    from dbproxy.metrics import StatementStats


class StatementExecutor(Runner):
    __slots__ = ("statement_stats",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        #: each statement's route, outcome and latency go here when metrics are on (``executor/observed.py``);
        #: counted in this method rather than around it, so that metrics add no coroutine to every statement
        self.statement_stats: StatementStats | None = None

    async def execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """Run one planned statement and send its answer to the client."""
        stats = self.statement_stats
        started = perf_counter() if stats is not None else 0.0
        self.ran_on = 0
        try:
            state = self.state
            self.answer_database = plan.database  # whose physical names its answers and errors may hold
            if state.grants is not None and plan.database is not None:
                self._check_grant(plan)
            # backends a changing statement runs on become branches that need two-phase commit
            state.txn.writing = plan.changes_rows
            if plan.holds_session:
                self.hold = True  # the connections this statement runs on stay with the session
                try:
                    await plan.execute(self, params, req)
                finally:
                    self.hold = False
            else:
                await plan.execute(self, params, req)
        except ProxyError:
            if stats is not None:
                stats.record(plan.route(params, self.ran_on), "error", perf_counter() - started)
            raise
        if stats is not None:
            stats.record(plan.route(params, self.ran_on), "ok", perf_counter() - started)

    def _check_grant(self, plan: Plan) -> None:
        grants = self.state.grants
        assert grants is not None and plan.database is not None
        read_write = grants.get(plan.database.lower())
        if read_write is None:
            raise database_denied(plan.database)
        if plan.writes and not read_write:
            raise table_denied(plan.command or "UPDATE", plan.database, plan.table or "*")
