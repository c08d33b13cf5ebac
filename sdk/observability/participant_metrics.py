"""Participants' calls by action, op and barrier outcome: a participant interceptor (see sdk.interceptors).

``Participant.serve(..., metrics_listen="HOST:PORT")`` installs it; a service that serves its own HTTP app can
call :func:`enable_metrics`, add :func:`participant_metrics` to its interceptors and mount prometheus-client's
exposition itself."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client import Counter, Histogram

from sdk.barrier import BarrierOutcome
from sdk.errors import RpcError
from sdk.interceptors import ActionCall, ActionReply, Interceptor, Proceed
from sdk.observability.metrics_http import serve_metrics
from sdk.observability.rpc_metrics import LATENCY_BUCKETS

if TYPE_CHECKING:
    from sdk.participant import Participant

_families: tuple[Counter, Histogram] | None = None


def _metric_families() -> tuple[Counter, Histogram]:
    global _families
    if _families is None:
        _families = (
            Counter(
                "txc_participant_calls_total",
                "Phase calls this participant ran, by service, action, op (try/confirm/cancel) and outcome (the "
                "barrier's: applied, duplicate, empty_cancel, refused; or error when the phase raised)",
                ["service", "action", "op", "outcome"],
            ),
            Histogram(
                "txc_participant_call_duration_seconds",
                "Time a phase call took in this participant (barrier and phase function), by service, action and op",
                ["service", "action", "op"],
                buckets=LATENCY_BUCKETS,
            ),
        )
    return _families


def participant_metrics() -> Interceptor:
    """An interceptor counting and timing every phase call (put it first: it then sees the whole chain)."""
    calls, durations = _metric_families()
    counters: dict[tuple[str, str, str, str], Any] = {}
    timers: dict[tuple[str, str, str], Any] = {}

    async def observe(call: ActionCall, proceed: Proceed) -> ActionReply:
        started = time.perf_counter()
        outcome = "error"
        try:
            reply = await proceed(call)
            outcome = reply.barrier.value
            return reply
        except RpcError as exc:
            if exc.code == grpc.StatusCode.ABORTED:  # how the participant answers a refusal of its barrier
                outcome = BarrierOutcome.REFUSED.value
            raise
        finally:
            key = (call.service, call.action, call.op)
            timer = timers.get(key)
            if timer is None:
                timer = timers[key] = durations.labels(*key)
            timer.observe(time.perf_counter() - started)
            counted = (*key, outcome)
            counter = counters.get(counted)
            if counter is None:
                counter = counters[counted] = calls.labels(*counted)
            counter.inc()

    return observe


def observe_participant(participant: Participant, metrics_listen: str | None) -> None:
    """Before ``participant``'s server is made: trace it if ``OTEL_*`` says so, give its log lines and spans the
    call's gid and branch, and with ``metrics_listen``, serve metrics there and count its calls."""
    from sdk.observability.call_context import call_context
    from sdk.observability.json_logs import json_logs
    from sdk.observability.tracing import setup_tracing

    if setup_tracing(participant.service) or json_logs():
        participant.interceptors.insert(0, call_context())
    if metrics_listen is not None:
        serve_metrics(metrics_listen, field="metrics_listen")
        participant.interceptors.insert(0, participant_metrics())
