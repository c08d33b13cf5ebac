"""The phase-2 driver: delivers a decided transaction's confirms or cancels until every branch is done.

One task per transaction this coordinator owns. A failed round is recorded (attempt count, last error, an
event for the timeline) before waiting, with capped exponential backoff, for the next round. Branches that
finished are recorded so a retry (or a takeover by another coordinator) skips them; delivering twice is
harmless because participants guard phase 2 with the barrier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import grpc

from sdk.barrier import TRY_NEVER_APPLIED
from sdk.errors import NoEndpoints, RpcError, describe
from txcoord.engine.driven import DrivenHere
from txcoord.engine.retry import Retry
from txcoord.store.outage import STORE_OUTAGE, is_outage
from txcoord.tcc.delivery import Delivery
from txcoord.tcc.model import Branch, Phase2
from txcoord.tcc.store_protocol import TccStore

log = logging.getLogger(__name__)
ALERT_EVERY = 10  # failed rounds between alerts in the log
# a branch its owner listed untried when rolling back (the timeline event; recovery reads it back)
UNTRIED_EVENT = "listed_untried"


def refusal(exc: BaseException) -> bool:
    """A participant's answer no retry can change: its barrier refused the phase (a confirm whose try never
    applied, a confirm after a cancel) or it found the request malformed."""
    if not isinstance(exc, RpcError):
        return False
    if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
        return True
    return exc.code == grpc.StatusCode.ABORTED and "refused" in exc.details


def try_never_applied(exc: BaseException) -> bool:
    """A confirm its participant refused because the branch's try never applied (nothing was reserved)."""
    return isinstance(exc, RpcError) and exc.code == grpc.StatusCode.ABORTED and TRY_NEVER_APPLIED in exc.details


def unreachable(exc: BaseException) -> bool:
    """The branch's service has no endpoint, or no such action: only a deployment (or a person) fixes it."""
    return isinstance(exc, NoEndpoints) or (isinstance(exc, RpcError) and exc.code == grpc.StatusCode.UNIMPLEMENTED)


class Phase2Driver:
    def __init__(self, store: TccStore, delivery: Delivery, owner: str, retry: Retry) -> None:
        self.store = store
        self.delivery = delivery
        self.owner = owner
        self.retry = retry
        self.driven = DrivenHere("phase2")
        self._wake: dict[str, asyncio.Event] = {}

    def drive(
        self,
        gid: str,
        op: Phase2,
        branches: Sequence[Branch],
        *,
        failures: int = 0,
        not_before: datetime | None = None,
        untried: frozenset[str] = frozenset(),
    ) -> None:
        """Start driving ``gid`` unless already driven; returns at once. ``untried``: branches its owner says
        never ran their try: a cancel that finds no such action at the participant, or no endpoint for
        ``retry.unregistered_bound`` seconds, counts as done."""
        if self.driven.running(gid):
            return
        self._wake[gid] = asyncio.Event()
        run = self._run(gid, op, list(branches), failures, not_before, untried)
        self.driven.start(gid, run, ended=self._forget)

    def _forget(self, gid: str) -> None:
        self._wake.pop(gid, None)

    def cancel(self, gid: str) -> None:
        """Stop driving ``gid``: its phase 2 was finished by its caller (see ``Coordinator.finish``)."""
        self.driven.cancel(gid)

    def wake(self, gid: str) -> bool:
        """Cut the current backoff wait short (admin retry). False if ``gid`` is not driven here."""
        event = self._wake.get(gid)
        if event is None:
            return False
        event.set()
        return True

    async def _sleep(self, gid: str, seconds: float) -> None:
        event = self._wake.get(gid)
        if event is None or seconds <= 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()

    async def _run(
        self,
        gid: str,
        op: Phase2,
        branches: list[Branch],
        failures: int,
        not_before: datetime | None,
        untried: frozenset[str] = frozenset(),
    ) -> None:
        try:
            if not_before is not None:
                await self._sleep(gid, (not_before - datetime.now(UTC)).total_seconds())
            pending = [b for b in branches if not b.done]
            unreachable_since: dict[str, float] = {}
            while True:
                results = await asyncio.gather(*(self.delivery.deliver(b, op) for b in pending), return_exceptions=True)
                failed = [(b, r) for b, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
                if untried and op is Phase2.CANCEL:
                    failed = await self._without_actions(gid, failed, untried)
                    failed = await self._gone_for_good(gid, failed, untried, unreachable_since)
                if not failed:
                    if not await self.store.finish(gid, op, self.owner):
                        log.info("%s: finished phase 2 but another coordinator owns it now", gid)
                    return
                done = [b.branch_id for b in pending if all(b is not f for f, _ in failed)]
                if op is Phase2.CONFIRM and await self._reverse_if_nothing_tried(gid, branches, done, failed):
                    op, pending = Phase2.CANCEL, [b for b in branches if not b.done]
                    continue
                failures += 1
                delay = self.retry.delay(failures)
                if done:
                    await self.store.branches_done(gid, done, op)
                for branch, error in failed:
                    log.info("%s/%s: %s failed (attempt %d): %s", gid, branch.branch_id, op, failures, error)
                    await self.store.branch_failed(gid, branch.branch_id, describe(error), delay)
                if await self.store.transaction_failed(gid, self.owner, delay) is None:
                    log.info("%s: lost ownership, leaving phase 2 to its new owner", gid)
                    return
                stuck = self._needs_person(failed, unreachable_since)
                if stuck:
                    await self._mark_for_person(gid, op, stuck)
                    return
                if failures % ALERT_EVERY == 0:  # retrying forever must not be silent
                    log.error(
                        "ALERT %s: phase 2 (%s) still failing after %d rounds: %s; see `txc tx show %s`",
                        gid,
                        op,
                        failures,
                        describe(failed[0][1]),
                        gid,
                    )
                if self.retry.exhausted(failures):
                    await self.store.give_up(gid, op, self.owner)
                    await self.store.add_event(gid, None, "gave_up", f"{failures} attempts; needs a human")
                    log.error("%s: gave up after %d phase-2 attempts", gid, failures)
                    return
                pending = [b for b, _ in failed]
                await self._sleep(gid, delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The lease will lapse and recovery (here or elsewhere) picks the transaction up.
            if not is_outage(exc):
                log.exception("%s: phase 2 interrupted; recovery will resume it", gid)
                return
            STORE_OUTAGE.failed(exc)  # one line for the outage, not one traceback per transaction
            log.debug("%s: phase 2 interrupted by the store outage; recovery will resume it", gid)

    async def _without_actions(
        self, gid: str, failed: list[tuple[Branch, BaseException]], untried: frozenset[str]
    ) -> list[tuple[Branch, BaseException]]:
        """The failures left once the cancels of branches said to be untried whose participant has no such
        action (UNIMPLEMENTED: nothing of it can have run there) are counted as done."""
        unimplemented = grpc.StatusCode.UNIMPLEMENTED
        none = [b for b, e in failed if b.branch_id in untried and isinstance(e, RpcError) and e.code == unimplemented]
        if none:
            await self.store.branches_done(gid, [b.branch_id for b in none], Phase2.CANCEL)
            for branch in none:
                await self.store.add_event(gid, branch.branch_id, "cancel_skipped", "no such action there")
        return [(b, e) for b, e in failed if b not in none]

    async def _gone_for_good(
        self,
        gid: str,
        failed: list[tuple[Branch, BaseException]],
        untried: frozenset[str],
        unreachable_since: dict[str, float],
    ) -> list[tuple[Branch, BaseException]]:
        """The failures left once the cancels of branches said to be untried whose service has had no endpoint
        for ``unregistered_bound`` seconds are counted as done: the owner says no try was sent, and no
        participant has come back for it since. Before the bound their cancels are retried like any other (a
        participant mid-restart whose try did apply gets its cancel; its barrier answers a cancel without a
        try cleanly). A branch not listed untried is marked for a person after the bound instead."""
        now = time.monotonic()
        gone: list[tuple[Branch, float]] = []
        for branch, error in failed:
            if branch.branch_id not in untried or not isinstance(error, NoEndpoints):
                continue
            since = unreachable_since.setdefault(branch.branch_id, now)
            if now - since >= self.retry.unregistered_bound:
                gone.append((branch, now - since))
        if gone:
            await self.store.branches_done(gid, [b.branch_id for b, _s in gone], Phase2.CANCEL)
            for branch, seconds in gone:
                why = f"its owner says its try was never sent; {branch.service} had no endpoint for {seconds:.0f} s"
                await self.store.add_event(gid, branch.branch_id, "cancel_skipped", f"{why}: nothing to cancel")
        skipped = {b.branch_id for b, _s in gone}
        return [(b, e) for b, e in failed if b.branch_id not in skipped]

    async def _reverse_if_nothing_tried(
        self, gid: str, branches: list[Branch], done: list[str], failed: list[tuple[Branch, BaseException]]
    ) -> bool:
        """A commit whose confirms all came back "its try never applied", with no branch confirmed before: the
        barrier has blocked those tries for good, so the transaction cannot commit; nothing was confirmed, so
        it can still roll back cleanly instead of waiting for a person."""
        if done or any(b.done for b in branches) or not all(try_never_applied(e) for _b, e in failed):
            return False
        untried = ", ".join(b.branch_id for b, _e in failed)
        if not await self.store.reverse_commit(gid, self.owner, f"commit without a successful try ({untried})"):
            return False
        await self.store.add_event(gid, None, "commit_reversed", f"no try applied (branches {untried}): rolling back")
        log.warning("%s: committed but no branch's try applied (%s); rolling back instead", gid, untried)
        return True

    def _needs_person(
        self, failed: list[tuple[Branch, BaseException]], unreachable_since: dict[str, float]
    ) -> list[tuple[Branch, str]]:
        now = time.monotonic()
        stuck: list[tuple[Branch, str]] = []
        for branch, error in failed:
            if refusal(error):
                stuck.append((branch, f"refused by its participant: {describe(error)}"))
            elif unreachable(error):
                since = unreachable_since.setdefault(branch.branch_id, now)
                if now - since >= self.retry.unregistered_bound:
                    stuck.append((branch, f"unreachable for {now - since:.0f} s: {describe(error)}"))
            else:
                unreachable_since.pop(branch.branch_id, None)
        return stuck

    async def _mark_for_person(self, gid: str, op: Phase2, stuck: list[tuple[Branch, str]]) -> None:
        """Stop retrying what no retry can fix: the transaction goes to COMMIT_FAILED / ROLLBACK_FAILED (shown by
        `txc tx list`), each branch's reason in the timeline, one alert in the log."""
        await self.store.give_up(gid, op, self.owner)
        tx = await self.store.get(gid)  # the alert names who began it: "needs a person" is never anonymous
        began = f"begun by {tx.initiator}" if tx is not None and tx.initiator else "begun with security off"
        for branch, why in stuck:
            await self.store.add_event(gid, branch.branch_id, "needs_person", f"{why} ({began})")
        first, why = stuck[0]
        log.error(
            "ALERT %s (%s): phase 2 (%s) needs a person: branch %s %s; finish it with `txc tx resolve %s --branch %s "
            "--as confirmed|cancelled` or `txc tx retry %s`",
            gid,
            began,
            op,
            first.branch_id,
            why,
            gid,
            first.branch_id,
            gid,
        )

    async def close(self) -> None:
        await self.driven.close()
