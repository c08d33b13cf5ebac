"""Spans of a hot path kept as plain records and exported in batches, without an SDK span object per call.

From ``start_span`` to its export, an SDK span costs a process about 50 us of CPU (its attributes' bounded
mapping, links, locks, the span processor's queue, the exporter's walk over the object). The proxy makes one span
per statement and runs a point select in about 45 us, so every statement would cost twice. A record is what the
exporter needs of a finished span that has no children in this process: ids, name, kind, times, attributes and
status. Records are sampled by the tracer provider's own sampler (``OTEL_TRACES_SAMPLER``), batched by the
``OTEL_BSP_*`` settings as the SDK's ``BatchSpanProcessor`` batches, carry the provider's resource, and are
written to the wire by the OTLP encoder (in the thread that fills a batch: see ``SpanRecords``); any other
exporter (the console one) gets SDK ``ReadableSpan`` objects built in the export thread."""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

log = logging.getLogger(__name__)

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class SpanRecord(NamedTuple):
    """A finished span: what the OTLP ``Span`` message holds of it."""

    trace_id: int
    span_id: int
    parent_span_id: int  # 0: a root span
    parent_is_remote: bool
    name: str
    kind: SpanKind
    start_time: int  # ns since the epoch
    end_time: int
    attributes: tuple[tuple[str, str | bool | int | float], ...]  # pairs: the encoder caches them as one key
    error: str | None  # the status description of a failed span; None: it did not fail


class SpanIds(NamedTuple):
    """A span's place in its trace, decided when it starts."""

    trace_id: int
    span_id: int
    parent_span_id: int
    parent_is_remote: bool
    sampled: bool

    def traceparent(self) -> str:
        """The W3C header of this span, for what it calls."""
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        log.warning("%s is not an integer; using %d", name, default)
        return default
    return value if value > 0 else default


class SpanRecords:
    """Records of one instrumentation scope's spans, exported by a thread of their own (with the OTLP exporter, a
    full batch is encoded by the thread that filled it and the export thread only sends it)."""

    def __init__(self, provider: TracerProvider, exporter: SpanExporter, scope_name: str) -> None:
        self.provider = provider
        self._sampler = provider.sampler
        self._decide = _fast_decision(provider.sampler)
        self._resource = provider.resource
        self._scope = InstrumentationScope(scope_name)
        self._exporter = exporter
        self._export_records = getattr(exporter, "export_records", None)  # the OTLP exporter's direct path
        # With the OTLP exporter, a full batch is encoded by the thread that filled it (the event loop) and only
        # sent by the export thread, which then holds the GIL for a moment per request: the exporter thread
        # encoding batches took the GIL from the event loop at each of its system calls, and made every
        # statement of the loop slower than the encoding itself (see docs/operations.md, What tracing costs).
        self._encode = exporter.encode_records if getattr(exporter, "sends_bytes", False) else None  # type: ignore[attr-defined]
        self._send = getattr(exporter, "send_encoded", None)
        self._ready: deque[tuple[bytes, int] | list[SpanRecord]] = deque()  # encoded requests, or batches to export
        self._max_queue = _env_int("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        self._batch = min(_env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512), self._max_queue)
        self._delay = _env_int("OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000
        self._queue: deque[SpanRecord] = deque()
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._exported_through = 0  # records taken off the queue and exported
        self._added = 0
        self._flush_through = 0  # force_flush's target: export whatever was added before it, full batch or not
        self.dropped = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="SpanRecords", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    def begin(self, name: str, kind: SpanKind, parent: SpanContext | None) -> SpanIds:
        """The ids of a span starting now, and whether the sampler keeps it (a child of ``parent`` if given)."""
        trace_id = parent.trace_id if parent is not None else random.getrandbits(128)
        span_id = random.getrandbits(64)
        if parent is None:
            decide = self._decide
            sampled = decide(trace_id, None) if decide is not None else self._sampled(trace_id, name, kind, None)
            return SpanIds(trace_id, span_id, 0, False, sampled)
        decide = self._decide
        sampled = decide(trace_id, parent) if decide is not None else self._sampled(trace_id, name, kind, parent)
        return SpanIds(trace_id, span_id, parent.span_id, parent.is_remote, sampled)

    def _sampled(self, trace_id: int, name: str, kind: SpanKind, parent: SpanContext | None) -> bool:
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
        return self._sampler.should_sample(context, trace_id, name, kind).decision.is_sampled()

    def add(self, record: SpanRecord) -> None:
        """Queue a finished, sampled span; beyond ``OTEL_BSP_MAX_QUEUE_SIZE`` waiting ones it is dropped."""
        queue = self._queue
        # waiting: the records queued and the encoded batches not sent yet (a full batch each, at most)
        if len(queue) + len(self._ready) * self._batch >= self._max_queue:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("span queue full (%d): dropping spans until the exporter catches up", self._max_queue)
            return
        queue.append(record)
        self._added += 1
        if len(queue) >= self._batch:
            if self._encode is not None:
                self._encode_batch()
            if not self._wake.is_set():
                self._wake.set()

    def _encode_batch(self) -> None:
        """Encode a full batch here, in the thread that filled it, for the export thread to send."""
        queue, batch = self._queue, []
        try:
            for _ in range(self._batch):
                batch.append(queue.popleft())
        except IndexError:  # the export thread took the rest (a flush or the schedule delay)
            if not batch:
                return
        try:
            data = self._encode(self._resource, self._scope, batch)  # type: ignore[misc]
        except Exception:  # an attribute the encoder does not take (an application's list value): the SDK's way
            log.debug("encoding %d spans: the SDK's exporter takes them", len(batch), exc_info=True)
            self._ready.append(batch)
            return
        self._ready.append((data, len(batch)))

    def force_flush(self, timeout: float = 30.0) -> bool:
        """Export every record added so far; False if that took longer than ``timeout`` seconds."""
        target = self._added
        self._flush_through = max(self._flush_through, target)
        self._wake.set()
        with self._flushed:
            return self._flushed.wait_for(lambda: self._exported_through >= target or self._stopping, timeout)

    def shutdown(self) -> None:
        if self._stopping:
            return
        self.force_flush()
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=5)
        if self.dropped:
            log.warning("%d spans were dropped: the span queue was full", self.dropped)

    def _work(self) -> None:
        # Full batches only, as the SDK's BatchSpanProcessor: draining the queue after each batch would send the
        # few records that arrived meanwhile as a request of their own, and per request is where HTTP costs.
        # What is left goes at the schedule delay or on a flush.
        while not self._stopping:
            timed_out = not self._wake.wait(self._delay)
            self._wake.clear()
            while True:
                if self._ready:
                    sent = self._send_ready(self._ready.popleft())
                elif self._queue and (
                    timed_out
                    or (self._encode is None and len(self._queue) >= self._batch)
                    or self._exported_through < self._flush_through
                ):
                    batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                    self._export(batch)
                    sent = len(batch)
                else:
                    break
                with self._flushed:
                    self._exported_through += sent
                    self._flushed.notify_all()
            with self._flushed:
                self._flushed.notify_all()

    def _send_ready(self, ready: tuple[bytes, int] | list[SpanRecord]) -> int:
        if isinstance(ready, list):  # a batch the encoder refused: as SDK spans
            try:
                self._exporter.export(readable_spans(self._resource, self._scope, ready))
            except Exception:
                log.exception("exporting %d spans failed", len(ready))
            return len(ready)
        data, spans = ready
        try:
            self._send(data, spans)  # type: ignore[misc]
        except Exception:  # as _export: later requests may get through
            log.exception("exporting %d spans failed", spans)
        return spans

    def _export(self, batch: Sequence[SpanRecord]) -> None:
        try:
            if self._export_records is not None:
                self._export_records(self._resource, self._scope, batch)
            else:
                self._exporter.export(readable_spans(self._resource, self._scope, batch))
        except Exception:  # an exporter's failure must not stop the thread: later batches may get through
            log.exception("exporting %d spans failed", len(batch))


def readable_spans(
    resource: Resource, scope: InstrumentationScope, records: Sequence[SpanRecord]
) -> list[ReadableSpan]:
    """The SDK's finished spans for ``records``, for exporters that take only those."""
    spans = []
    for record in records:
        parent = (
            SpanContext(record.trace_id, record.parent_span_id, record.parent_is_remote, _SAMPLED)
            if record.parent_span_id
            else None
        )
        status = Status(StatusCode.ERROR, record.error) if record.error is not None else Status(StatusCode.UNSET)
        spans.append(
            ReadableSpan(
                name=record.name,
                context=SpanContext(record.trace_id, record.span_id, False, _SAMPLED),
                parent=parent,
                resource=resource,
                attributes=dict(record.attributes),
                kind=record.kind,
                instrumentation_scope=scope,
                status=status,
                start_time=record.start_time,
                end_time=record.end_time,
            )
        )
    return spans


_Decision = Callable[[int], bool]


def _by_trace_id(sampler: Sampler) -> _Decision | None:
    """What ``sampler`` decides from a trace id alone, if it is one of the SDK's that need nothing else."""
    if sampler is ALWAYS_ON:
        return lambda _trace_id: True
    if sampler is ALWAYS_OFF:
        return lambda _trace_id: False
    if type(sampler) is TraceIdRatioBased:
        bound, limit = sampler.bound, TraceIdRatioBased.TRACE_ID_LIMIT
        return lambda trace_id: trace_id & limit < bound
    return None


def _fast_decision(sampler: Sampler) -> Callable[[int, SpanContext | None], bool] | None:
    """The provider's sampling decision for a span with no parent, a remote or a local one, without the sampler's
    ``SamplingResult`` (its attributes mapping and trace state cost more than the rest of a record): for the SDK's
    own samplers (``OTEL_TRACES_SAMPLER`` = always_on, always_off, traceidratio and their parentbased_ forms);
    None for any other (it is asked each time)."""
    plain = _by_trace_id(sampler)
    if plain is not None:
        return lambda trace_id, _parent: plain(trace_id)
    if type(sampler) is not ParentBased:
        return None
    root = _by_trace_id(getattr(sampler, "_root", None))  # type: ignore[arg-type]
    by_parent = {
        (remote, sampled): _by_trace_id(getattr(sampler, f"_{where}_parent_{state}", None))  # type: ignore[arg-type]
        for remote, where in ((True, "remote"), (False, "local"))
        for sampled, state in ((True, "sampled"), (False, "not_sampled"))
    }
    if root is None or None in by_parent.values():
        return None
    decisions: dict[tuple[bool, bool], _Decision] = by_parent  # type: ignore[assignment]

    def decide(trace_id: int, parent: SpanContext | None) -> bool:
        if parent is None:
            return root(trace_id)
        return decisions[(parent.is_remote, parent.trace_flags.sampled)](trace_id)

    return decide
