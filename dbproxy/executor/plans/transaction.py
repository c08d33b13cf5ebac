"""BEGIN, COMMIT and ROLLBACK of the client's transaction (its branches end through the session's committer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbproxy.executor.plans.base import Plan
from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionPlan(Plan):
    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        return "transaction"


@dataclass(frozen=True, slots=True, kw_only=True)
class Begin(TransactionPlan):
    sql: str = "BEGIN"  # as the client wrote it: START TRANSACTION READ ONLY opens no XA branches

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        await run.commit_open()  # BEGIN inside a transaction commits it, as in MySQL
        run.state.txn.begin(self.sql)
        run.client.ok()


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit(TransactionPlan):
    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        await run.commit_open()
        run.client.ok()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollback(TransactionPlan):
    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        if run.state.txn.active:
            await run.state.txn.rollback()
        run.client.ok()
