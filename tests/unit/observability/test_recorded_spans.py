"""txcoord's own spans are span records: a server span under the caller's ``traceparent``, client spans and the
application's own spans (started through the OpenTelemetry API) under it, a failure recorded as an error."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sdk.observability import tracing
from sdk.observability.span_records import SpanRecords

CALLER_TRACE, CALLER_SPAN = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7


def test_txcoord_spans_are_records_with_the_right_parents_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    records = SpanRecords(provider, ours, tracing.TRACER)
    cached = tracing._Cached(trace.get_tracer_provider())
    cached.records = records
    monkeypatch.setattr(tracing, "_cached", cached)
    application = provider.get_tracer("shop")
    caller = f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01"
    try:
        with tracing.start_span("Coordinator/Commit", kind="server", attributes={"txc.gid": "g-1"}, traceparent=caller):
            tracing.current_span().set_attribute("txc.op", "commit")
            with application.start_as_current_span("shop.reserve"):
                pass
            with tracing.start_span("txc.phase2", kind="client") as call:
                call.set_attribute("rpc.grpc.status_code", 0)
                sent = tracing.traceparent_of(call)
        with pytest.raises(ValueError), tracing.start_span("txc.saga.action"):
            raise ValueError("no funds")
        assert records.force_flush(10)
    finally:
        records.shutdown()
    spans = {span.name: span for span in ours.get_finished_spans()}
    server, client, failed = spans["Coordinator/Commit"], spans["txc.phase2"], spans["txc.saga.action"]
    assert server.context.trace_id == CALLER_TRACE
    assert server.parent is not None and (server.parent.span_id, server.parent.is_remote) == (CALLER_SPAN, True)
    assert server.kind == trace.SpanKind.SERVER
    assert dict(server.attributes or {}) == {"txc.gid": "g-1", "txc.op": "commit"}
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert not client.parent.is_remote and client.kind == trace.SpanKind.CLIENT
    assert sent == f"00-{CALLER_TRACE:032x}-{client.context.span_id:016x}-01"
    times = [server.start_time, client.start_time, client.end_time, server.end_time]
    assert times == sorted(t or 0 for t in times)
    (mine,) = theirs.get_finished_spans()
    assert mine.parent is not None and mine.parent.span_id == server.context.span_id
    assert failed.parent is None and failed.status.status_code == trace.StatusCode.ERROR
    assert failed.status.description == "ValueError: no funds"
    assert dict(failed.attributes or {}) == {"error.type": "ValueError"}
