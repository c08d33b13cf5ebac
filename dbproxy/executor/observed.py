"""A session's executor and client channel with metrics: each statement's route, outcome and latency, and every
MySQL error sent (``dbproxy.metrics`` families). Sessions use them only when metrics are on."""

from __future__ import annotations

from typing import Any

from dbproxy.errors import ProxyError
from dbproxy.executor.channel import ClientChannel
from dbproxy.executor.statements import StatementExecutor
from dbproxy.metrics import current


class ObservedStatementExecutor(StatementExecutor):
    """The session's executor, counting and timing each statement (used only when metrics are on)."""

    __slots__ = ()  # no instance dict: every method the session calls on it is looked up on the class alone

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        found = current()
        assert found is not None
        found.connections.inc()
        self.statement_stats = found.statements


class ObservedClientChannel(ClientChannel):
    """The session's channel to its client, counting every MySQL error it sends (refused when planned, failed on
    a backend, or a protocol error) by error number."""

    __slots__ = ()

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
