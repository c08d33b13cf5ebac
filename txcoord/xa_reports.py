"""Batched reports of a proxy's finished XA transactions (the session stream's ``xa_report``).

A proxy decides a multi-backend commit inside one of its backends (a decision row committed with that
backend's branch), so the coordinator is off the client's commit path: it only learns, in batches, which
global transactions there were, how they ended and their branches, for ``txc tx list/show`` and operators.
Each report carries many transactions; concurrent reports are group-committed into one statement
(``txcoord.batching``), so the coordinator spends one store round trip on many transfers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sdk._proto import coordinator_pb2 as pb
from txcoord import validation
from txcoord.batching import Batcher
from txcoord.errors import InvalidArgument
from txcoord.tcc.model import XaOutcome

MAX_OUTCOMES = 10_000  # per report
MAX_BRANCHES = 64  # per transaction


class XaOutcomeStore(Protocol):
    async def record_xa_outcomes(self, outcomes: Sequence[XaOutcome]) -> set[str]: ...


def outcome_of(message: pb.XaOutcome) -> XaOutcome:
    """One reported transaction, validated like any other input (it is written to the store as given)."""
    validation.gid(message.gid)
    validation.service(message.service)
    validation.text(message.decider, "decider")
    if not message.branches or len(message.branches) > MAX_BRANCHES:
        raise InvalidArgument(f"outcomes[{message.gid}].branches: expected 1..{MAX_BRANCHES} branches")
    branches = []
    for branch in message.branches:
        validation.branch_id(branch.backend, "branches.backend")
        validation.text(branch.gtrid, "branches.gtrid")
        validation.text(branch.bqual, "branches.bqual")
        branches.append((branch.backend, branch.gtrid, branch.bqual))
    if not 0 <= message.started_at < 1e11:
        raise InvalidArgument(f"outcomes[{message.gid}].started_at: expected unix seconds, got {message.started_at}")
    return XaOutcome(
        gid=message.gid,
        committed=message.committed,
        service=message.service,
        decider=message.decider,
        branches=tuple(branches),
        reason=validation.reason(message.reason) if message.reason else "",
        started_at=message.started_at,
    )


class XaReports:
    """Records reports; concurrent ones share a statement."""

    def __init__(self, store: XaOutcomeStore) -> None:
        self._store = store
        self._batcher: Batcher[Sequence[XaOutcome], None] = Batcher(self._write)
        self.reports = 0
        self.outcomes = 0

    async def record(self, request: pb.XaReportRequest) -> int:
        """Validate and record one report; how many transactions it carried."""
        if len(request.outcomes) > MAX_OUTCOMES:
            raise InvalidArgument(f"outcomes: at most {MAX_OUTCOMES} per report, got {len(request.outcomes)}")
        outcomes = [outcome_of(o) for o in request.outcomes]  # all valid, or none recorded
        if outcomes:
            await self._batcher.submit(outcomes)
        self.reports += 1
        self.outcomes += len(outcomes)
        return len(outcomes)

    async def _write(self, reports: Sequence[Sequence[XaOutcome]]) -> list[None]:
        unique = {o.gid: o for report in reports for o in report}  # one row per gid, even if sent twice
        await self._store.record_xa_outcomes(list(unique.values()))
        return [None] * len(reports)

    def stats(self) -> str:
        return f"xa_reports={self.outcomes}/{self.reports}/{self._batcher.batches}"

    async def close(self) -> None:
        await self._batcher.close()
