"""Span records (``sdk.observability.span_records``): sampled as the provider's sampler samples, exported in
batches, and written to the wire as the same message the SDK's encoder makes of the same spans."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from sdk.observability.otlp_encoding import TraceRequestEncoder
from sdk.observability.span_records import SpanRecord, SpanRecords, readable_spans


class OddTraces(Sampler):
    """A sampler of the user's own: records must ask it each time."""

    def should_sample(  # type: ignore[override]
        self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, links: Any = None
    ) -> SamplingResult:
        return (ALWAYS_ON if trace_id % 2 else ALWAYS_OFF).should_sample(parent_context, trace_id, name, kind)

    def get_description(self) -> str:
        return "OddTraces"


SAMPLERS = [
    ALWAYS_ON,
    ALWAYS_OFF,
    TraceIdRatioBased(0.3),
    ParentBased(ALWAYS_ON),
    ParentBased(TraceIdRatioBased(0.5)),
    ParentBased(ALWAYS_OFF),
    ParentBased(ALWAYS_ON, remote_parent_sampled=ALWAYS_OFF, remote_parent_not_sampled=ALWAYS_ON),
    ParentBased(ALWAYS_OFF, local_parent_sampled=TraceIdRatioBased(0.5), local_parent_not_sampled=ALWAYS_ON),
    OddTraces(),
]


def _records(sampler: Sampler, exporter: InMemorySpanExporter | None = None) -> SpanRecords:
    provider = TracerProvider(sampler=sampler, resource=Resource.create({"service.name": "dbproxy"}))
    return SpanRecords(provider, exporter or InMemorySpanExporter(), "dbproxy")


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s.get_description())
def test_records_are_sampled_as_the_providers_sampler_decides(sampler: Sampler) -> None:
    records = _records(sampler)
    rng = random.Random(7)
    try:
        for _ in range(300):
            parent = None
            if rng.random() < 0.5:
                flags = TraceFlags(rng.choice((0, 1)))
                remote = rng.random() < 0.5
                parent = SpanContext(rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, remote, flags)
            ids = records.begin("SELECT t", SpanKind.SERVER, parent)
            context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
            expected = sampler.should_sample(context, ids.trace_id, "SELECT t", SpanKind.SERVER).decision.is_sampled()
            assert ids.sampled is expected
            if parent is not None:
                assert (ids.trace_id, ids.parent_span_id, ids.parent_is_remote) == (
                    parent.trace_id,
                    parent.span_id,
                    parent.is_remote,
                )
            assert ids.traceparent() == f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{'01' if expected else '00'}"
    finally:
        records.shutdown()


def _sample_records() -> list[SpanRecord]:
    attributes = (("db.system.name", "mysql"), ("db.query.summary", "UPDATE acct"), ("db.namespace", "bank"))
    return [
        SpanRecord(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, 0x1122334455667788, True, "UPDATE acct",
                   SpanKind.SERVER, 1_700_000_000_000_000_000, 1_700_000_000_000_050_000, attributes, None),
        SpanRecord(5, 6, 0, False, "BEGIN", SpanKind.SERVER, 10, 20, (("db.namespace", ""), ("n", 3)), None),
        SpanRecord(7, 8, 9, False, "SELECT t", SpanKind.SERVER, 30, 40,
                   (("error.type", "ProxyError"), ("ratio", 0.5), ("flag", True)), "ProxyError: no such table"),
        SpanRecord(0x4BF92F3577B34DA6A3CE929D0E0E4736, 11, 0, False, "UPDATE acct", SpanKind.SERVER, 50, 60,
                   attributes, None),
    ]  # fmt: skip


def test_records_encode_to_the_sdk_encoders_message_for_the_same_spans() -> None:
    resource = Resource.create({"service.name": "dbproxy"}, schema_url="https://example/r")
    scope = InstrumentationScope("dbproxy")
    records = _sample_records()
    encoder = TraceRequestEncoder()
    for _ in range(2):  # the second time from its cache of names and attributes
        ours = ExportTraceServiceRequest.FromString(encoder.encode_records(resource, scope, records))
        assert ours == encode_spans(readable_spans(resource, scope, records))


def test_records_reach_the_exporter_in_batches_and_a_full_queue_drops_and_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "3")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")  # only a full batch or a flush wakes the exporter
    exporter = InMemorySpanExporter()
    records = _records(ALWAYS_ON, exporter)
    try:
        records._wake.set = lambda: None  # type: ignore[method-assign]  # hold the thread: the queue fills up
        for record in _sample_records():
            records.add(record)
        assert records.dropped == 1  # the fourth found three waiting
        del records._wake.set
        assert records.force_flush(10)
    finally:
        records.shutdown()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["UPDATE acct", "BEGIN", "SELECT t"]
    first = spans[0]
    assert first.parent is not None and first.parent.is_remote and first.parent.span_id == 0x1122334455667788
    assert dict(first.attributes or {})["db.query.summary"] == "UPDATE acct"
    assert first.resource.attributes["service.name"] == "dbproxy"
    assert spans[2].status.status_code == trace.StatusCode.ERROR
    assert spans[2].status.description == "ProxyError: no such table"


class _BusyExporter(InMemorySpanExporter):
    """While it sends its first batch, one more record arrives; remembers each batch's size."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.arriving: Any = None  # (records, record) added during the first export
        self.first_done = threading.Event()

    def export(self, spans: Sequence[Any]) -> Any:
        if self.arriving is not None:
            records, record = self.arriving
            self.arriving = None
            records.add(record)
        self.sizes.append(len(spans))
        result = super().export(spans)
        self.first_done.set()
        return result


def test_only_full_batches_go_out_before_the_schedule_delay_or_a_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """What arrives while a batch is being sent waits for a full batch: sending it at once would make one HTTP
    request per few spans under load (each request costs about what encoding 500 spans does)."""
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    exporter = _BusyExporter()
    records = _records(ALWAYS_ON, exporter)
    first, second, third = _sample_records()[:3]
    try:
        exporter.arriving = (records, third)
        records.add(first)
        records.add(second)  # a full batch: the thread sends it, and the third record arrives meanwhile
        assert exporter.first_done.wait(10)
        time.sleep(0.3)  # room for a wrong early send of the lone third record (none may come, however long)
        assert exporter.sizes == [2]
        assert records.force_flush(10)  # a flush sends what waits, full batch or not
    finally:
        records.shutdown()
    assert exporter.sizes == [2, 1]


class _BytesExporter(InMemorySpanExporter):
    """An exporter that sends bytes (as the OTLP one): notes which thread encodes and which sends."""

    sends_bytes = True

    def __init__(self) -> None:
        super().__init__()
        self.encoded_in: list[int] = []
        self.sent: list[tuple[int, int]] = []  # (thread, spans)
        self.encoder = TraceRequestEncoder()

    def encode_records(self, resource: Any, scope: Any, records: Sequence[SpanRecord]) -> bytes:
        self.encoded_in.append(threading.get_ident())
        return self.encoder.encode_records(resource, scope, records)

    def send_encoded(self, data: bytes, spans: int) -> Any:
        assert len(ExportTraceServiceRequest.FromString(data).resource_spans[0].scope_spans[0].spans) == spans
        self.sent.append((threading.get_ident(), spans))

    def export_records(self, resource: Any, scope: Any, records: Sequence[SpanRecord]) -> Any:
        return self.send_encoded(self.encode_records(resource, scope, records), len(records))  # a flush's rest


def test_a_full_batch_is_encoded_by_the_thread_that_filled_it_and_sent_by_the_export_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event loop encodes (a couple of microseconds a span) and the export thread only sends: an export
    thread encoding took the GIL from the loop at each of its system calls and slowed every statement."""
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    exporter = _BytesExporter()
    records = _records(ALWAYS_ON, exporter)
    odd = SpanRecord(1, 2, 0, False, "SELECT t", SpanKind.SERVER, 1, 2, (("tags", ("a", "b")),), None)  # type: ignore[arg-type]
    here = threading.get_ident()
    try:
        first, second, third = _sample_records()[:3]
        records.add(first)
        assert exporter.encoded_in == []  # half a batch: nothing to do yet
        records.add(second)
        assert exporter.encoded_in == [here]  # encoded at once, in this thread
        records.add(third)
        records.add(odd)  # a list attribute: this encoder refuses it, the SDK's exporter takes the batch
        assert records.force_flush(10)
    finally:
        records.shutdown()
    assert [spans for _thread, spans in exporter.sent] == [2]
    assert all(thread != here for thread, _spans in exporter.sent)  # sent by the export thread
    assert [s.name for s in exporter.get_finished_spans()] == ["SELECT t", "SELECT t"]
    assert dict(exporter.get_finished_spans()[1].attributes or {})["tags"] == ("a", "b")


def test_encoded_batches_waiting_to_be_sent_count_against_the_queue_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exporter that cannot send (a collector down, retries running) must not let encoded requests pile up:
    beyond ``OTEL_BSP_MAX_QUEUE_SIZE`` waiting spans, new ones are dropped and counted, as before encoding."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    exporter = _BytesExporter()
    sending, release = threading.Event(), threading.Event()
    send = exporter.send_encoded

    def stuck_send(data: bytes, spans: int) -> Any:
        sending.set()
        assert release.wait(10)
        return send(data, spans)

    exporter.send_encoded = stuck_send  # type: ignore[method-assign]
    records = _records(ALWAYS_ON, exporter)
    record = _sample_records()[1]
    try:
        records.add(record)
        records.add(record)  # a batch: encoded, and the export thread is stuck sending it
        assert sending.wait(10)
        for _ in range(4):
            records.add(record)  # two more batches wait, encoded: four spans waiting
        assert records.dropped == 0
        records.add(record)
        assert records.dropped == 1
        release.set()
        assert records.force_flush(10)
    finally:
        release.set()
        records.shutdown()
    assert sum(spans for _thread, spans in exporter.sent) == 6
