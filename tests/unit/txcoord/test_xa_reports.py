"""txcoord.xa_reports without a database: validation of a report, and group commit of concurrent reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sdk._proto import coordinator_pb2 as pb
from txcoord.errors import InvalidArgument
from txcoord.tcc.model import XaOutcome
from txcoord.xa_reports import XaReports


class RecordingStore:
    """Keeps what would be written; each call is one statement."""

    def __init__(self) -> None:
        self.statements: list[list[XaOutcome]] = []
        self.release = asyncio.Event()

    async def record_xa_outcomes(self, outcomes: Sequence[XaOutcome]) -> set[str]:
        self.statements.append(list(outcomes))
        await self.release.wait()
        return {o.gid for o in outcomes}


def report(*gids: str) -> pb.XaReportRequest:
    return pb.XaReportRequest(
        outcomes=[
            pb.XaOutcome(
                gid=g,
                committed=True,
                service="shop-proxy",
                decider="ds0",
                branches=[pb.XaBranchReport(backend="ds0", gtrid=g, bqual="shop-proxy/ds0")],
            )
            for g in gids
        ]
    )


async def test_concurrent_reports_share_one_statement_and_a_gid_is_written_once() -> None:
    store = RecordingStore()
    reports = XaReports(store)
    first = asyncio.create_task(reports.record(report("g1", "g2")))
    await asyncio.sleep(0)  # the first report's statement is in flight: the next ones queue behind it
    rest = [asyncio.create_task(reports.record(report(f"g{n}", "g1"))) for n in range(3, 6)]
    await asyncio.sleep(0)
    store.release.set()
    assert await first == 2 and [await r for r in rest] == [2, 2, 2]
    assert [sorted(o.gid for o in s) for s in store.statements] == [["g1", "g2"], ["g1", "g3", "g4", "g5"]]


async def test_an_invalid_outcome_refuses_the_whole_report() -> None:
    store = RecordingStore()
    bad = report("g1", "g2")
    bad.outcomes[1].branches[0].backend = ""
    with pytest.raises(InvalidArgument, match=r"branches\.backend"):
        await XaReports(store).record(bad)
    assert store.statements == []
