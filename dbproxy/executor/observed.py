"""A session's executor and client channel with metrics: each statement's route, outcome and latency, and every
MySQL error sent (``dbproxy.metrics`` families). Sessions use them only when metrics are on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dbproxy.errors import ProxyError
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.statements import StatementExecutor
from dbproxy.metrics import ProxyMetrics, current

if TYPE_CHECKING:
    from dbproxy.protocol.params import ExecuteRequest, ParamValue


class ObservedStatementExecutor(StatementExecutor):
    """The session's executor, counting and timing each statement (used only when metrics are on)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        found = current()
        assert found is not None
        self._metrics: ProxyMetrics = found
        self._metrics.connections.inc()

    async def execute(self, plan: Plan, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        stats = self._metrics.statements
        started = time.perf_counter()
        self.ran_on = 0
        try:
            await super().execute(plan, params, req)
        except ProxyError:
            stats.record(plan.route(params, self.ran_on), "error", time.perf_counter() - started)
            raise
        stats.record(plan.route(params, self.ran_on), "ok", time.perf_counter() - started)


class ObservedClientChannel(ClientChannel):
    """The session's channel to its client, counting every MySQL error it sends (refused when planned, failed on
    a backend, or a protocol error) by error number."""

    def error(self, exc: ProxyError, seq: int = 1) -> None:
        m = current()
        assert m is not None
        m.child(m.refusals, str(exc.code)).inc()
        super().error(exc, seq)


def channel_type() -> type[ClientChannel]:
    """The channel a session answers its client on: the observed one when metrics are on."""
    return ClientChannel if current() is None else ObservedClientChannel


def executor_type() -> type[StatementExecutor]:
    """The executor a session runs: the observed one when metrics are on."""
    return StatementExecutor if current() is None else ObservedStatementExecutor
