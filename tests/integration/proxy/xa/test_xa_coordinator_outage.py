"""The coordinator is off the commit path: multi-backend commits go on while no coordinator answers, their
reports wait (bounded) and reach the coordinator once one answers, and the proxy fails over between the
coordinators it is given (``transactions.coordinator: A,B``)."""

from __future__ import annotations

import pytest

from tests.integration.proxy.xa.rig import XaRig, connect, settled, transfer, wait_for
from tests.support import free_port

pytestmark = pytest.mark.timeout(180)


def test_commits_go_on_while_the_coordinator_is_down_and_are_recorded_when_it_is_back(rig: XaRig) -> None:
    _, port = rig.start_proxy()
    assert rig.coordinator_proc is not None
    rig.coordinator_proc.kill()  # a total outage: the only coordinator
    conn = connect(port)
    for src, dst in ((0, 1), (3, 2), (0, 3)):
        assert transfer(conn, src, dst, 10)  # multi-backend, atomic, and no coordinator needed
    with conn.cursor() as cur:  # single-backend transactions, of course, too
        cur.execute("UPDATE acct SET balance = balance + 1 WHERE id = 2")
    assert rig.balances() == {0: 80, 1: 110, 2: 111, 3: 100}
    assert rig.transactions() == {}  # nothing recorded: the reports wait in the proxy
    assert len(rig.decision_rows()) == 3  # ... and durably, as decision rows
    assert not rig.prepared()
    rig.start_coordinator()
    wait_for(lambda: settled(rig), what="the queued reports recorded once the coordinator is back")
    assert sorted(rig.transactions().values()) == ["COMMITTED"] * 3


def test_reports_fail_over_to_the_next_coordinator(rig: XaRig) -> None:
    second = f"127.0.0.1:{free_port()}"
    rig.start_coordinator(second)  # shares the rig's store
    _, port = rig.start_proxy(coordinator=f"{rig.coordinator_address},{second}", registry=second)
    assert rig.coordinator_proc is not None
    rig.coordinator_proc.kill()
    assert transfer(connect(port), 0, 1, 30)
    wait_for(lambda: settled(rig), what="the report recorded by the second coordinator")
    assert list(rig.transactions().values()) == ["COMMITTED"]
    assert rig.balances() == {0: 70, 1: 130, 2: 100, 3: 100}
