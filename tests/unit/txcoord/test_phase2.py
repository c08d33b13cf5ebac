"""The phase-2 driver's logic against an in-memory store and a scripted delivery."""

from __future__ import annotations

import asyncio

import grpc

from sdk.barrier import TRY_NEVER_APPLIED
from sdk.errors import RpcError
from tests.support.polling import eventually
from tests.unit.txcoord.fake_store import FakeStore
from txcoord.engine.lease_loop import RecoverySettings
from txcoord.engine.retry import Retry
from txcoord.model import TxState
from txcoord.tcc.model import Branch, BranchState, Phase2
from txcoord.tcc.phase2 import Phase2Driver
from txcoord.tcc.recovery import TccRecovery


class ScriptedDelivery:
    """Fails the first ``failures[branch_id]`` deliveries of a branch, then succeeds; records every call."""

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: list[tuple[str, str]] = []

    async def deliver(self, branch: Branch, op: Phase2) -> None:
        self.calls.append((branch.branch_id, op.value))
        if self.failures.get(branch.branch_id, 0) > 0:
            self.failures[branch.branch_id] -= 1
            raise ConnectionError(f"participant of branch {branch.branch_id} is down")


def branches(*ids: str) -> list[Branch]:
    return [Branch("g", i, "svc", "act", {}) for i in ids]


FAST = Retry(initial=0.001, maximum=0.004)


async def run(driver: Phase2Driver, gid: str = "g", timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while driver.driven.is_active(gid):
        assert asyncio.get_running_loop().time() < deadline, f"phase 2 of {gid} still running after {timeout}s"
        await asyncio.sleep(0.001)


async def drive_to_end(store: FakeStore, delivery: object, phase: Phase2, retry: Retry = FAST) -> None:
    """One Phase2Driver (node "me") drives phase 2 of transaction "g" of ``store`` until it stops."""
    driver = Phase2Driver(store, delivery, "me", retry)  # type: ignore[arg-type]
    driver.drive("g", phase, store.transactions["g"].branches)
    await run(driver)


async def test_all_branches_reached_finishes_the_transaction() -> None:
    store, delivery = FakeStore(), ScriptedDelivery()
    tx = store.add("g", TxState.COMMITTING, "me", branches("1", "2"))
    await drive_to_end(store, delivery, Phase2.CONFIRM)
    assert tx.state is TxState.COMMITTED
    assert sorted(delivery.calls) == [("1", "confirm"), ("2", "confirm")]


async def test_a_failing_branch_is_retried_alone_and_its_attempts_recorded() -> None:
    store, delivery = FakeStore(), ScriptedDelivery({"2": 3})
    tx = store.add("g", TxState.ROLLING_BACK, "me", branches("1", "2"))
    await drive_to_end(store, delivery, Phase2.CANCEL)
    assert tx.state is TxState.ROLLED_BACK
    assert delivery.calls.count(("1", "cancel")) == 1
    assert delivery.calls.count(("2", "cancel")) == 4
    assert tx.branches[1].attempts == 3 and "down" in (tx.branches[1].last_error or "")
    assert tx.attempts == 3


async def test_losing_ownership_stops_the_driver() -> None:
    store, delivery = FakeStore(lost={"g"}), ScriptedDelivery({"1": 100})
    tx = store.add("g", TxState.COMMITTING, "me", branches("1"))
    await drive_to_end(store, delivery, Phase2.CONFIRM)
    assert delivery.calls == [("1", "confirm")]
    assert tx.state is TxState.COMMITTING


async def test_a_retry_limit_turns_the_transaction_into_commit_failed() -> None:
    store, delivery = FakeStore(), ScriptedDelivery({"1": 100})
    tx = store.add("g", TxState.COMMITTING, "me", branches("1"))
    await drive_to_end(store, delivery, Phase2.CONFIRM, Retry(initial=0.001, maximum=0.001, max_attempts=3))
    assert tx.state is TxState.COMMIT_FAILED
    assert [e.event for e in store.events_log][-1] == "gave_up"


async def test_done_branches_are_skipped_after_a_takeover() -> None:
    store, delivery = FakeStore(), ScriptedDelivery()
    bs = branches("1", "2")
    bs[0].state = BranchState.CONFIRMED
    store.add("g", TxState.COMMITTING, "me", bs)
    await drive_to_end(store, delivery, Phase2.CONFIRM)
    assert delivery.calls == [("2", "confirm")]


async def test_wake_cuts_the_backoff_short() -> None:
    store, delivery = FakeStore(), ScriptedDelivery({"1": 1})
    tx = store.add("g", TxState.COMMITTING, "me", branches("1"))
    driver = Phase2Driver(store, delivery, "me", Retry(initial=3600, maximum=3600))  # type: ignore[arg-type]
    driver.drive("g", Phase2.CONFIRM, tx.branches)
    await eventually(lambda: tx.attempts >= 1, timeout=30, what="the first attempt", interval=0.001)
    assert driver.wake("g")
    await run(driver)
    assert tx.state is TxState.COMMITTED


async def test_recovery_leaves_a_transaction_alone_while_this_node_decides_it() -> None:
    """The decision makes the transaction this node's in the store before the node drives it (a rollback
    first marks the branches whose try never ran); a recovery scan in that window must not drive the branches
    as the log stands mid-way — that once sent cancels, forever, to a service nobody serves."""
    store, delivery = FakeStore(), ScriptedDelivery()
    store.add("g", TxState.ROLLING_BACK, "me", branches("1", "2"))
    driver = Phase2Driver(store, delivery, "me", FAST)  # type: ignore[arg-type]
    recovery = TccRecovery(store, driver, RecoverySettings())  # type: ignore[arg-type]
    with driver.driven.reserved("g"):
        assert driver.driven.is_active("g") and driver.driven.active == ["g"]
        assert await recovery.scan() == 0
        await asyncio.sleep(0.01)
        assert delivery.calls == []
    assert not driver.driven.is_active("g")
    assert await recovery.scan() == 1  # left over after a crash of the decider: recovery's, as before
    await run(driver)
    assert sorted(delivery.calls) == [("1", "cancel"), ("2", "cancel")]


class NeverTried:
    """Refuses every confirm as a barrier does when the try never applied; cancels succeed (empty)."""

    def __init__(self, tried: set[str] | None = None) -> None:
        self.tried = tried or set()
        self.calls: list[tuple[str, str]] = []

    async def deliver(self, branch: Branch, op: Phase2) -> None:
        self.calls.append((branch.branch_id, op.value))
        if op is Phase2.CONFIRM and branch.branch_id not in self.tried:
            raise RpcError(grpc.StatusCode.ABORTED, f"confirm refused: {TRY_NEVER_APPLIED}")


async def test_a_commit_none_of_whose_tries_applied_rolls_back_instead_of_needing_a_person() -> None:
    store, delivery = FakeStore(), NeverTried()
    tx = store.add("g", TxState.COMMITTING, "me", branches("1", "2"))
    await drive_to_end(store, delivery, Phase2.CONFIRM)
    assert tx.state is TxState.ROLLED_BACK
    assert sorted(delivery.calls) == [("1", "cancel"), ("1", "confirm"), ("2", "cancel"), ("2", "confirm")]
    assert "commit_reversed" in [e.event for e in store.events_log]


async def test_a_commit_with_one_confirmed_branch_and_one_never_tried_needs_a_person() -> None:
    store, delivery = FakeStore(), NeverTried(tried={"1"})
    tx = store.add("g", TxState.COMMITTING, "me", branches("1", "2"))
    tx.initiator = "shop"
    await drive_to_end(store, delivery, Phase2.CONFIRM)
    assert tx.state is TxState.COMMIT_FAILED  # branch 1 confirmed: only a person can decide now
    (event,) = [e for e in store.events_log if e.event == "needs_person"]
    assert event.branch_id == "2" and "begun by shop" in (event.detail or "")
