"""What every plan has, and what every plan that runs on backends has."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from dbproxy.executor.runner import Runner
from dbproxy.protocol.params import ExecuteRequest, ParamValue
from dbproxy.router.targets import Target


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What the proxy does with one distinct statement: computed once (the plan cache holds it), executed with
    each run's parameters by ``execute``."""

    nparams: int = 0
    # what per-user grants are checked against (router/access.py refused everything no user may do)
    database: str | None = None  # the logical database the statement reads or writes
    writes: bool = False  # needs a read-write grant
    command: str = ""  # the privilege word MySQL's 1142 names (INSERT, UPDATE, CREATE ...)
    table: str = ""  # the table it names in that message
    # it may leave state in its backend session (executor/affinity.py): the connections it runs on stay with
    # the session from then on
    holds_session: bool = False

    async def execute(self, run: Runner, params: Sequence[ParamValue], req: ExecuteRequest | None) -> None:
        """Run the statement with ``params`` (``req``: the prepared statement's execute request, None for text)
        and send its answer to the client."""
        raise NotImplementedError

    def route(self, params: Sequence[ParamValue], ran_on: int = 0) -> str:
        """How it ran, for the statement metrics: single, scatter, broadcast, local, transaction or session
        (``ran_on``: the number of nodes ``execute`` ran it on, when it says; 0: work it out from ``params``)."""
        return "local"

    @property
    def changes_rows(self) -> bool:
        """It may change rows: the backends it runs on become branches that need two-phase commit."""
        return False

    @property
    def metadata_target(self) -> Target | None:
        """The node a prepared statement is prepared on for its column and parameter metadata (None: no node)."""
        return None

    def holding_session(self) -> Self:
        """This plan, marked as one whose connections stay with the session."""
        return dataclasses.replace(self, holds_session=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Routed(Plan):
    """A plan that runs the client's statement, rewritten per node, on backends."""

    targets: tuple[Target, ...]

    @property
    def metadata_target(self) -> Target | None:
        return self.targets[0] if self.targets else None
