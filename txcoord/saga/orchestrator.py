"""The saga orchestrator: drives each saga instance this coordinator owns from its log to the end.

Forward: a step starts once every step in its ``after`` succeeded; its attempt is durable (RUNNING, attempt
count, input) before the action is sent and its output is durable before any dependent starts, so a
restarted coordinator resumes from the log and never re-runs a completed step. The step in flight at a crash
is sent again: the participant's barrier makes a duplicate a no-op (its output is kept by the participant).

Backward: when a step fails after its retries, or the saga passes its timeout, every step that may have
applied (succeeded, in flight, or failed after a lost reply) is compensated in reverse order of completion
(steps without a recorded completion first), one at a time, each retried with backoff until it succeeds.
Forward steps are retried with backoff until they succeed; the validator guarantees they start only once
every backward step succeeded, so they never need compensation.

A name that does not exist never leaves a saga stuck: a step none of whose attempts was delivered (no
endpoint, no such action) has nothing to undo and its compensation is skipped (said in the timeline); a
compensation, or a forward step, that cannot be delivered for longer than ``unregistered_bound`` marks the saga
for a person (COMPENSATION_FAILED, FORWARD_FAILED), who finishes it with `txc saga resolve` (done by hand) or
`txc saga retry` (the service is back); see ``txcoord.saga.attention``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from sdk.errors import NoEndpoints, RpcError, describe
from sdk.saga import EvaluationError, RecoveryMode, SagaDefinition, Step, render
from txcoord.engine.driven import DrivenHere
from txcoord.errors import InvalidArgument
from txcoord.model import TxState
from txcoord.saga.definitions import Definitions
from txcoord.saga.errors import LostOwnership
from txcoord.saga.invoker import StepInvoker
from txcoord.saga.records import SagaInstance, StepRecord, StepState
from txcoord.saga.store import SagaStore
from txcoord.store.outage import STORE_OUTAGE, is_outage

log = logging.getLogger(__name__)
ALERT_EVERY = 10
# a participant's answer that another identical attempt cannot change: the business refused, the barrier
# refused (the step was compensated already), the arguments are wrong, or there is no such action
FINAL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
COMPENSABLE = frozenset({StepState.RUNNING, StepState.SUCCEEDED, StepState.FAILED, StepState.COMPENSATING})


@dataclass
class _Progress:
    """One forward run's bookkeeping: steps whose success is durable, steps whose first attempt was recorded
    with a predecessor's success (their task skips that write), steps launched or being started."""

    durable: set[str] = field(default_factory=set)
    prestarted: set[str] = field(default_factory=set)
    launched: set[str] = field(default_factory=set)


def _final(exc: BaseException) -> bool:
    return isinstance(exc, RpcError) and exc.code in FINAL_CODES


def undelivered(exc: BaseException) -> bool:
    """The call cannot have reached a participant's code: nobody serves the service, or it has no such action."""
    return isinstance(exc, NoEndpoints | EvaluationError) or (
        isinstance(exc, RpcError) and exc.code == grpc.StatusCode.UNIMPLEMENTED
    )


class NeedsPerson(Exception):
    """A compensation or forward step no retry can deliver: the saga was marked for a person and is no longer
    driven here."""


class _Undeliverable:
    """How long a step's calls have gone undelivered in a row (no endpoint, no such action): past the bound, only
    a person can finish the step. A delivered failure starts the count again."""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self.since: float | None = None

    def past_bound(self, error: BaseException) -> bool:
        if not undelivered(error):
            self.since = None
            return False
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        return now - self.since >= self.bound


class SagaOrchestrator:
    def __init__(
        self,
        store: SagaStore,
        definitions: Definitions,
        invoker: StepInvoker,
        owner: str,
        *,
        unregistered_bound: float = 60.0,
    ) -> None:
        self.store = store
        # seconds a compensation may stay undeliverable (no endpoint, no such action) before a person is needed
        self.unregistered_bound = unregistered_bound
        self.definitions = definitions
        self.invoker = invoker
        self.owner = owner
        self.driven = DrivenHere("saga")
        self._finished: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}  # callers waiting for a saga's end, per gid
        self._ended: dict[str, SagaInstance] = {}  # sagas someone waits for, once they ended here

    def drive(self, gid: str, instance: SagaInstance | None = None) -> None:
        """Start driving ``gid`` unless already driven here; returns at once. ``instance``: what was just
        written at its start (saves reading it back)."""
        if self.driven.running(gid):
            return
        self._finished.setdefault(gid, asyncio.Event())
        self.driven.start(gid, self._run(gid, instance), ended=self._forget)

    def _forget(self, gid: str) -> None:
        event = self._finished.pop(gid, None)
        if event is not None:
            event.set()

    async def wait(self, gid: str, timeout: float) -> SagaInstance | None:
        """Until ``gid`` is terminal in the store, or ``timeout`` seconds passed. Returns the instance when
        it succeeded while driven here: then this copy is what the log holds (each write returned its times
        and completion numbers), and the caller needs no round trip. Otherwise None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = self._finished.get(gid)
        if event is not None:  # driven here: its end is an event
            self._waiting[gid] = self._waiting.get(gid, 0) + 1
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
            finally:
                self._waiting[gid] -= 1
                if not self._waiting[gid]:
                    del self._waiting[gid]
            ended = self._ended.get(gid)
            if ended is not None:
                if gid not in self._waiting:
                    self._ended.pop(gid, None)
                return ended if ended.state == TxState.SUCCEEDED else None
        while loop.time() < deadline:
            state = await self.store.state(gid)
            if state is None or TxState(state).terminal:
                return None
            await asyncio.sleep(min(0.2, max(deadline - loop.time(), 0)))
        return None

    async def close(self) -> None:
        await self.driven.close()

    # -- one instance -------------------------------------------------------------------------------------------
    async def _run(self, gid: str, instance: SagaInstance | None = None) -> None:
        try:
            if instance is None:
                instance = await self.store.load(gid)
            if instance is None:
                return
            saga = await self.definitions.get(instance.name, instance.version)
            if instance.state == TxState.RUNNING:
                await self._forward(instance, saga)
            if instance.state == TxState.COMPENSATING:
                await self._compensate(instance, saga)
            if gid in self._waiting and TxState(instance.state).terminal:
                self._ended[gid] = instance
        except LostOwnership:
            log.info("%s: another coordinator owns this saga now; leaving it", gid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # the saga stops being driven here; recovery (here, or elsewhere once the lease lapses) resumes it
            # from its log
            if is_outage(exc):
                STORE_OUTAGE.failed(exc)  # one line per outage, not one per saga
                log.info("%s: saga interrupted by the store outage; recovery will resume it", gid)
            else:
                log.exception("%s: saga interrupted; recovery will resume it", gid)

    async def _forward(self, instance: SagaInstance, saga: SagaDefinition) -> None:
        gid, steps = instance.gid, instance.steps
        inflight: dict[asyncio.Task[bool], str] = {}
        progress = _Progress(
            durable={sid for sid, r in steps.items() if r.state is StepState.SUCCEEDED},
            prestarted=set(instance.prestarted),
        )
        instance.prestarted.clear()
        reason = ""
        try:
            while True:
                failed = [s for s in saga.steps if steps[s.id].state is StepState.FAILED]
                if failed:
                    reason = f"step {failed[0].id} failed: {steps[failed[0].id].last_error or 'no error recorded'}"
                    break
                for step in saga.steps:
                    record = steps[step.id]
                    ready = all(steps[d].state is StepState.SUCCEEDED for d in step.after)
                    if (
                        ready
                        and record.state in (StepState.PENDING, StepState.RUNNING)
                        and step.id not in progress.launched
                    ):
                        progress.launched.add(step.id)
                        task = asyncio.create_task(
                            self._run_step(instance, saga, step, progress), name=f"saga-{gid}-{step.id}"
                        )
                        inflight[task] = step.id
                if not inflight:
                    if instance.state == TxState.SUCCEEDED:  # written with the last step's success
                        return
                    if all(steps[s.id].state is StepState.SUCCEEDED for s in saga.steps):
                        finished = await self.store.finish(gid, TxState.RUNNING, TxState.SUCCEEDED, self.owner)
                        if finished is None:
                            raise LostOwnership(gid)
                        instance.state, instance.owner, instance.finished_at = TxState.SUCCEEDED, None, finished
                        return
                    raise RuntimeError(f"{gid}: no step can run and the saga is not complete")  # validator forbids
                timeout = self._time_left(instance, saga)
                done, _ = await asyncio.wait(inflight, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    reason = f"timeout: still running after {saga.timeout:g}s"
                    await self.store.add_event(gid, None, "timed_out", "the saga passed its timeout; compensating")
                    break
                for task in done:
                    progress.launched.discard(inflight.pop(task))
                if any(isinstance(task.exception(), NeedsPerson) for task in done):
                    raise NeedsPerson(gid)  # before a sibling's LostOwnership: the mark took the saga's owner
                for task in done:
                    task.result()  # LostOwnership and store errors propagate
        except NeedsPerson:
            instance.state, instance.owner = TxState.FORWARD_FAILED, None
            return
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
        if not await self.store.start_compensation(gid, reason, self.owner):
            raise LostOwnership(gid)
        await self.store.set_error(gid, reason)
        instance.state, instance.reason, instance.error = TxState.COMPENSATING, reason, reason

    def _time_left(self, instance: SagaInstance, saga: SagaDefinition) -> float | None:
        """Seconds until the saga's deadline, or None once a forward step started (past the pivot the saga
        can only go forward, so its timeout no longer triggers compensation)."""
        started_forward = any(
            s.recovery is RecoveryMode.FORWARD and instance.steps[s.id].state is not StepState.PENDING
            for s in saga.steps
        )
        if started_forward or instance.deadline is None:
            return None
        return max(0.0, (instance.deadline - datetime.now(UTC)).total_seconds())

    def _scope(self, instance: SagaInstance) -> dict[str, Any]:
        outputs = {sid: {"output": r.output} for sid, r in instance.steps.items() if r.state is StepState.SUCCEEDED}
        return {"input": instance.input, "steps": outputs}

    async def _sleep_until(self, when: datetime | None) -> None:
        if when is not None:
            await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))

    def _successors(
        self, instance: SagaInstance, saga: SagaDefinition, step: Step, output: Any, progress: _Progress
    ) -> list[tuple[str, Any]]:
        """Steps that ``step``'s success makes ready, with their rendered inputs, to start in the same commit:
        only those whose other dependencies are already durable, while the saga is healthy and in time."""
        steps = instance.steps
        if any(r.state is StepState.FAILED for r in steps.values()) or self._time_left(instance, saga) == 0:
            return []
        scope = self._scope(instance)
        scope["steps"][step.id] = {"output": output}
        starts = []
        for other in saga.steps:
            if (
                step.id in other.after
                and other.id not in progress.launched
                and steps[other.id].state is StepState.PENDING
                and all(d == step.id or d in progress.durable for d in other.after)
            ):
                try:
                    starts.append((other.id, render(other.input, scope)))
                except EvaluationError:
                    continue  # the normal path records this failure
        return starts

    async def _begin_attempt(self, instance: SagaInstance, step: Step, progress: _Progress) -> Any:
        """The input of the attempt about to be sent, durable before it is sent: recorded with its
        predecessor's success (a prestarted first attempt), or written now."""
        record = instance.steps[step.id]
        if step.id in progress.prestarted:
            progress.prestarted.discard(step.id)
            return record.input
        args = render(step.input, self._scope(instance))
        attempt = await self.store.step_started(instance.gid, step.id, args, self.owner)
        if attempt is None:
            raise LostOwnership(instance.gid)
        record.state, record.attempts, record.input = StepState.RUNNING, record.attempts + 1, args
        record.started_at, record.next_attempt_at = record.started_at or attempt.at, None
        return args

    async def _run_step(self, instance: SagaInstance, saga: SagaDefinition, step: Step, progress: _Progress) -> bool:
        """Attempts of one step's action until it succeeds (True) or fails for good (False)."""
        gid, record = instance.gid, instance.steps[step.id]
        failures = max(0, record.attempts - 1) if record.state is StepState.RUNNING else record.attempts
        undeliverable = _Undeliverable(self.unregistered_bound)
        await self._sleep_until(record.next_attempt_at)
        while True:
            error: BaseException
            try:
                args = await self._begin_attempt(instance, step, progress)
            except EvaluationError as exc:
                error = exc  # an output the step needs is missing: the step fails without being sent
            else:
                try:
                    output = await self.invoker.action(
                        gid, step.id, step.action.service, step.action.action, args, step.timeout
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = exc
                else:
                    starts = self._successors(instance, saga, step, output, progress)
                    progress.launched.update(sid for sid, _ in starts)  # no one else starts them meanwhile
                    # the last step: the saga's success goes in the same commit
                    last = all(s.id == step.id or s.id in progress.durable for s in saga.steps)
                    written = await self.store.step_succeeded(gid, step.id, output, self.owner, starts, finish=last)
                    if written is None:
                        raise LostOwnership(gid)
                    if last:
                        instance.state, instance.owner, instance.finished_at = TxState.SUCCEEDED, None, written.at
                    record.state, record.output, record.last_error = StepState.SUCCEEDED, output, None
                    record.ended_at, record.completion_seq = written.at, written.completion_seq
                    progress.durable.add(step.id)
                    for sid, value in starts:
                        started = instance.steps[sid]
                        started.state, started.attempts, started.input = StepState.RUNNING, started.attempts + 1, value
                        started.started_at, started.next_attempt_at = started.started_at or written.at, None
                        progress.prestarted.add(sid)
                        progress.launched.discard(sid)  # the forward loop launches it (without a write)
                    return True
            failures += 1
            backward = step.recovery is RecoveryMode.BACKWARD
            final = backward and (
                failures >= step.retry.attempts
                or _final(error)
                # the same answer again: a missing input, or an output the store cannot keep (the barrier
                # returns a repeated action's first output)
                or isinstance(error, EvaluationError | InvalidArgument)
            )
            delay = 0.0 if final else step.retry.delay(failures)
            text = describe(error)
            log.info("%s/%s: attempt %d failed: %s", gid, step.id, failures, text)
            recorded = await self.store.step_attempt_failed(
                gid, step.id, text, delay, self.owner, final=final, delivered=not undelivered(error)
            )
            if not recorded:
                raise LostOwnership(gid) from None
            record.last_error = text
            if final:
                record.state = StepState.FAILED
                return False
            if step.recovery is RecoveryMode.FORWARD and undeliverable.past_bound(error):
                await self._mark_for_person(gid, step, f"forward step {step.action} undeliverable: {text}")
            if failures % ALERT_EVERY == 0:
                log.error("ALERT %s: step %s still failing after %d attempts: %s", gid, step.id, failures, text)
            await asyncio.sleep(delay)

    async def _compensate(self, instance: SagaInstance, saga: SagaDefinition) -> None:
        gid = instance.gid
        loaded = await self.store.load(gid)  # the log is the truth: completion order as recorded
        if loaded is None:
            return
        instance.steps = loaded.steps
        todo = [
            (step, instance.steps[step.id])
            for step in saga.steps
            if step.compensate is not None
            and instance.steps[step.id].state in COMPENSABLE
            and instance.steps[step.id].attempts > 0  # never sent: nothing to undo
        ]
        # newest completion first; a step with no recorded completion (in flight, failed) before all of them
        todo.sort(key=lambda item: (item[1].completion_seq is not None, -(item[1].completion_seq or 0)))
        try:
            for step, record in todo:
                if await self._never_delivered(gid, step, record):
                    continue
                await self._compensate_step(gid, step, record)
        except NeedsPerson:
            instance.state, instance.owner = TxState.COMPENSATION_FAILED, None
            return
        if await self.store.finish(gid, TxState.COMPENSATING, TxState.COMPENSATED, self.owner) is None:
            raise LostOwnership(gid)
        instance.state = TxState.COMPENSATED

    async def _never_delivered(self, gid: str, step: Step, record: StepRecord) -> bool:
        """True (and said in the timeline) when no attempt of the step's action reached a participant: its
        compensation has nothing to undo. Every attempt is counted before it is sent and every undelivered one
        is recorded as such, so an attempt in flight (or lost with a crash) keeps the compensation."""
        compensable = (StepState.RUNNING, StepState.FAILED, StepState.COMPENSATING)
        if record.completion_seq is not None or record.state not in compensable:
            return False
        if await self.store.undelivered_attempts(gid, step.id) < record.attempts:
            return False
        why = f"its action {step.action} was never delivered ({record.last_error or 'no endpoint'}): nothing to undo"
        await self.store.add_event(gid, step.id, "compensation_skipped", why)
        log.info("%s/%s: compensation skipped: %s", gid, step.id, why)
        return True

    async def _compensate_step(self, gid: str, step: Step, record: StepRecord) -> None:
        """Retried with backoff until it succeeds; one that cannot be delivered (no endpoint, no such action)
        for ``unregistered_bound`` seconds marks the saga for a person (raises NeedsPerson)."""
        assert step.compensate is not None
        failures = 0
        undeliverable = _Undeliverable(self.unregistered_bound)
        await self._sleep_until(record.next_attempt_at)
        while True:
            if not await self.store.compensation_attempt(gid, step.id, self.owner):
                raise LostOwnership(gid)
            try:
                await self.invoker.compensate(
                    gid,
                    step.id,
                    step.compensate.service,
                    step.compensate.action,
                    record.input if record.input is not None else {},
                    record.output,
                    step.timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = step.retry.delay(failures)
                text = describe(exc)
                log.info("%s/%s: compensation attempt %d failed: %s", gid, step.id, failures, text)
                if not await self.store.compensation_attempt(gid, step.id, self.owner, text, delay):
                    raise LostOwnership(gid) from None
                if undeliverable.past_bound(exc):
                    await self._mark_for_person(gid, step, f"compensation {step.compensate} undeliverable: {text}")
                if failures % ALERT_EVERY == 0:
                    log.error("ALERT %s: compensation of %s still failing after %d attempts", gid, step.id, failures)
                await asyncio.sleep(delay)
                continue
            if not await self.store.step_compensated(gid, step.id, self.owner):
                raise LostOwnership(gid)
            record.state = StepState.COMPENSATED
            return

    async def _mark_for_person(self, gid: str, step: Step, why: str) -> None:
        forward = step.recovery is RecoveryMode.FORWARD
        if not await self.store.needs_person(gid, step.id, why, self.owner, forward=forward):
            raise LostOwnership(gid)
        done_by_hand = (
            f"after doing step {step.id} by hand run `txc saga resolve {gid} --step {step.id} --output JSON` "
            "(JSON: what the step returned)"
            if forward
            else f"after compensating step {step.id} by hand run `txc saga resolve {gid} --step {step.id}`"
        )
        log.error(
            "ALERT %s: saga needs a person: %s; %s, or once its service is back `txc saga retry %s`",
            gid,
            why,
            done_by_hand,
            gid,
        )
        raise NeedsPerson(gid)
