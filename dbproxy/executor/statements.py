"""Running planned statements for one client session. The session owns one executor; for each statement it
checks the user's grant, marks whether the statement may change rows, and lets the plan execute itself against
the session's connections, state and client channel (``executor/runner.py``, ``executor/plans/``)."""

from __future__ import annotations

from collections.abc import Sequence

from dbproxy.errors import database_denied, table_denied
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue


class StatementExecutor(Runner):
    __slots__ = ()

    async def execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """Run one planned statement and send its answer to the client."""
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

    def _check_grant(self, plan: Plan) -> None:
        grants = self.state.grants
        assert grants is not None and plan.database is not None
        read_write = grants.get(plan.database.lower())
        if read_write is None:
            raise database_denied(plan.database)
        if plan.writes and not read_write:
            raise table_denied(plan.command or "UPDATE", plan.database, plan.table or "*")
