"""One saga instance driven from its log to the end: forward through its DAG of steps, then, if a step failed
for good or the saga ran out of time, backward through the compensations (``SagaOrchestrator`` keeps the runs of
every saga driven here; ``txcoord.saga.failures`` reads a failed call).

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
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sdk.errors import describe
from sdk.saga import EvaluationError, RecoveryMode, SagaDefinition, Step, render
from txcoord.errors import InvalidArgument
from txcoord.model import TxState
from txcoord.saga.errors import LostOwnership
from txcoord.saga.failures import NeedsPerson, Undeliverable, final_answer, undelivered
from txcoord.saga.invoker import StepInvoker
from txcoord.saga.records import COMPENSABLE, SagaInstance, StepRecord, StepState
from txcoord.saga.store import SagaStore

log = logging.getLogger(__name__)
ALERT_EVERY = 10


@dataclass
class _Progress:
    """One forward run's bookkeeping: steps whose success is durable, steps whose first attempt was recorded
    with a predecessor's success (their task skips that write), steps launched or being started."""

    durable: set[str] = field(default_factory=set)
    prestarted: set[str] = field(default_factory=set)
    launched: set[str] = field(default_factory=set)


class SagaRun:
    def __init__(
        self,
        instance: SagaInstance,
        saga: SagaDefinition,
        store: SagaStore,
        invoker: StepInvoker,
        owner: str,
        unregistered_bound: float,
    ) -> None:
        self.instance = instance  # kept as the log holds it: every write returns what it recorded
        self.saga = saga
        self.store = store
        self.invoker = invoker
        self.owner = owner
        # seconds a call may stay undeliverable (no endpoint, no such action) before a person is needed
        self.unregistered_bound = unregistered_bound

    async def run(self) -> None:
        """Drive the instance from its state in the log until it ends or waits for a person; raises
        LostOwnership when another coordinator took it over, and store errors (recovery resumes it)."""
        if self.instance.state == TxState.RUNNING:
            await self._forward()
        if self.instance.state == TxState.COMPENSATING:
            await self._compensate()

    async def _forward(self) -> None:
        instance, saga = self.instance, self.saga
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
                        task = asyncio.create_task(self._run_step(step, progress), name=f"saga-{gid}-{step.id}")
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
                timeout = self._time_left()
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

    def _time_left(self) -> float | None:
        """Seconds until the saga's deadline, or None once a forward step started (past the pivot the saga
        can only go forward, so its timeout no longer triggers compensation)."""
        started_forward = any(
            s.recovery is RecoveryMode.FORWARD and self.instance.steps[s.id].state is not StepState.PENDING
            for s in self.saga.steps
        )
        if started_forward or self.instance.deadline is None:
            return None
        return max(0.0, (self.instance.deadline - datetime.now(UTC)).total_seconds())

    def _scope(self) -> dict[str, Any]:
        outputs = {
            sid: {"output": r.output} for sid, r in self.instance.steps.items() if r.state is StepState.SUCCEEDED
        }
        return {"input": self.instance.input, "steps": outputs}

    async def _sleep_until(self, when: datetime | None) -> None:
        if when is not None:
            await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))

    def _successors(self, step: Step, output: Any, progress: _Progress) -> list[tuple[str, Any]]:
        """Steps that ``step``'s success makes ready, with their rendered inputs, to start in the same commit:
        only those whose other dependencies are already durable, while the saga is healthy and in time."""
        steps = self.instance.steps
        if any(r.state is StepState.FAILED for r in steps.values()) or self._time_left() == 0:
            return []
        scope = self._scope()
        scope["steps"][step.id] = {"output": output}
        starts = []
        for other in self.saga.steps:
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

    async def _begin_attempt(self, step: Step, progress: _Progress) -> Any:
        """The input of the attempt about to be sent, durable before it is sent: recorded with its
        predecessor's success (a prestarted first attempt), or written now."""
        record = self.instance.steps[step.id]
        if step.id in progress.prestarted:
            progress.prestarted.discard(step.id)
            return record.input
        args = render(step.input, self._scope())
        attempt = await self.store.step_started(self.instance.gid, step.id, args, self.owner)
        if attempt is None:
            raise LostOwnership(self.instance.gid)
        record.state, record.attempts, record.input = StepState.RUNNING, record.attempts + 1, args
        record.started_at, record.next_attempt_at = record.started_at or attempt.at, None
        return args

    async def _run_step(self, step: Step, progress: _Progress) -> bool:
        """Attempts of one step's action until it succeeds (True) or fails for good (False)."""
        gid, record = self.instance.gid, self.instance.steps[step.id]
        failures = max(0, record.attempts - 1) if record.state is StepState.RUNNING else record.attempts
        undeliverable = Undeliverable(self.unregistered_bound)
        await self._sleep_until(record.next_attempt_at)
        while True:
            error: BaseException
            try:
                args = await self._begin_attempt(step, progress)
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
                    starts = self._successors(step, output, progress)
                    progress.launched.update(sid for sid, _ in starts)  # no one else starts them meanwhile
                    # the last step: the saga's success goes in the same commit
                    last = all(s.id == step.id or s.id in progress.durable for s in self.saga.steps)
                    written = await self.store.step_succeeded(gid, step.id, output, self.owner, starts, finish=last)
                    if written is None:
                        raise LostOwnership(gid)
                    if last:
                        self.instance.state, self.instance.owner, self.instance.finished_at = (
                            TxState.SUCCEEDED,
                            None,
                            written.at,
                        )
                    record.state, record.output, record.last_error = StepState.SUCCEEDED, output, None
                    record.ended_at, record.completion_seq = written.at, written.completion_seq
                    progress.durable.add(step.id)
                    for sid, value in starts:
                        started = self.instance.steps[sid]
                        started.state, started.attempts, started.input = StepState.RUNNING, started.attempts + 1, value
                        started.started_at, started.next_attempt_at = started.started_at or written.at, None
                        progress.prestarted.add(sid)
                        progress.launched.discard(sid)  # the forward loop launches it (without a write)
                    return True
            failures += 1
            backward = step.recovery is RecoveryMode.BACKWARD
            final = backward and (
                failures >= step.retry.attempts
                or final_answer(error)
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

    async def _compensate(self) -> None:
        instance, saga = self.instance, self.saga
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
        undeliverable = Undeliverable(self.unregistered_bound)
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
