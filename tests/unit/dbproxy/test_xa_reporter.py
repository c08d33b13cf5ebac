"""dbproxy.xa.reporter without a coordinator or a database: batching, the bound, retries, and the decision rows it
deletes once a report is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dbproxy.xa.commit import FinishedXa
from dbproxy.xa.decisions import DecisionTable
from dbproxy.xa.reporter import XaReporter
from dbproxy.xa.statements import Xid
from tests.support.polling import eventually


class Conn:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def execute(self, sql: str) -> None:
        self.log.append(sql)


class Pool:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def acquire(self, *_args: Any) -> Conn:
        return Conn(self.log)

    def release(self, _conn: Conn) -> None:
        pass


class Coordinator:
    """Fails the first ``failures`` reports, then records them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.messages: list[list[str]] = []

    async def send(self, batch: Sequence[FinishedXa]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("no coordinator answered")
        self.messages.append([f.gid for f in batch])


def finished(gid: str, forget: bool = True) -> FinishedXa:
    xids = (Xid.of(gid, "svc", "ds0"), Xid.of(gid, "svc", "ds1", "ds0"))
    return FinishedXa(gid, True, "ds0", xids, forget=forget)


def reporter(coordinator: Coordinator, deleted: list[str], **kwargs: Any) -> XaReporter:
    pools: Any = {"ds0": Pool(deleted)}
    return XaReporter(coordinator.send, pools, DecisionTable("txc_xa", "svc"), linger=0.01, **kwargs)


async def test_outcomes_queued_together_travel_in_one_message_and_their_rows_are_deleted() -> None:
    coordinator, deleted = Coordinator(), []
    xa = reporter(coordinator, deleted)
    xa.start()
    try:
        assert all(xa.report(finished(f"g{n}")) for n in range(5))
        assert not xa.report(finished("g1"))  # queued already (e.g. by the sweep too)
        await eventually(lambda: xa.sent == 5, 10, "the report recorded", 0.01)
        assert coordinator.messages == [["g0", "g1", "g2", "g3", "g4"]]
        (delete,) = deleted
        assert delete.startswith("DELETE FROM `txc_xa`.`xa_decision` WHERE gid IN (") and delete.count("X'") == 5
    finally:
        await xa.close()


async def test_reports_wait_while_no_coordinator_answers_bounded_and_in_order() -> None:
    coordinator, deleted = Coordinator(failures=3), []
    xa = reporter(coordinator, deleted, max_queue=3)
    xa.start()
    try:
        assert [xa.report(finished(f"g{n}", forget=False)) for n in range(4)] == [True, True, True, False]
        assert xa.dropped == 1  # its decision row stays: the sweep reports it later
        await eventually(lambda: xa.sent == 3, 20, "the reports recorded after the outage", 0.01)
        assert coordinator.messages == [["g0", "g1", "g2"]] and xa.failures == 3
        assert deleted == []  # forget=False: a rollback without a row, nothing to delete
    finally:
        await xa.close()


async def test_close_sends_what_is_queued() -> None:
    coordinator, deleted = Coordinator(), []
    xa = reporter(coordinator, deleted)
    xa.report(finished("g-last"))  # never started: only close() can send it
    await xa.close()
    assert coordinator.messages == [["g-last"]] and len(deleted) == 1
