"""The OTLP trace request written by ``sdk.observability.otlp_encoding`` is the message the SDK's own encoder
makes, for spans as txcoord makes them and for every kind it hands back to the SDK (events, links, lists); the
exporter built on it sends that request."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags, TraceState

from sdk.observability.otlp_encoding import TraceRequestEncoder
from sdk.observability.otlp_export import EncodingSpanExporter

REMOTE = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(1))


def _finished(resource: Resource, make: Any) -> list[Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make(provider.get_tracer("txcoord"), provider.get_tracer("dbproxy", "1.2", schema_url="https://example/s"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _txcoord_spans(tracer: Any, other: Any) -> None:
    remote = trace.set_span_in_context(NonRecordingSpan(REMOTE))
    attributes = {"rpc.system": "grpc", "rpc.service": "bank-a", "rpc.method": "debit", "txc.gid": "g-ü-1"}
    root = tracer.start_span("txc.transaction", attributes={"txc.gid": "g-1"})
    with tracer.start_as_current_span(
        "bank-a/debit", context=trace.set_span_in_context(root), kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as call:
        call.set_attribute("rpc.grpc.status_code", 0)
    root.end()
    span = tracer.start_span("bank-a/debit", context=remote, kind=trace.SpanKind.SERVER, attributes=attributes)
    span.set_attributes({"negative": -5, "big": 2**62, "ratio": 0.25, "flag": True, "off": False, "empty": ""})
    span.set_status(trace.Status(trace.StatusCode.OK))
    span.end()
    other.start_span("UPDATE acct", kind=trace.SpanKind.SERVER, attributes={"db.system.name": "mysql"}).end()
    tracer.start_span("").end()


def _other_spans(tracer: Any, _other: Any) -> None:
    try:
        with tracer.start_as_current_span("fails"):
            raise ValueError("no funds")
    except ValueError:
        pass
    tracer.start_span("listed", attributes={"ids": ["a", "b"], "n": 3}).end()
    tracer.start_span("linked", links=[Link(REMOTE, {"why": "batch"})]).end()
    state = trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(REMOTE.trace_id, REMOTE.span_id, True, TraceFlags(1), TraceState([("vendor", "x")]))
        )
    )
    tracer.start_span("stateful", context=state).end()
    failed = tracer.start_span("error", attributes={"k": 1})
    failed.set_status(trace.Status(trace.StatusCode.ERROR, "it broke"))
    failed.end()


def _same(spans: list[Any]) -> None:
    assert len(spans) >= 5
    ours = ExportTraceServiceRequest.FromString(TraceRequestEncoder().encode(spans))
    assert ours == encode_spans(spans)


def test_txcoord_spans_encode_to_the_sdk_encoders_message() -> None:
    _same(_finished(Resource.create({"service.name": "bank-a"}), _txcoord_spans))


def test_spans_it_hands_to_the_sdk_encoder_are_the_same_message_too() -> None:
    _same(_finished(Resource.create({"service.name": "bank-a"}), _other_spans))


def test_a_batch_of_two_resources_keeps_them_apart_and_in_order() -> None:
    first = _finished(Resource.create({"service.name": "a"}, schema_url="https://example/r"), _txcoord_spans)
    second = _finished(Resource.create({"service.name": "b"}), _other_spans)
    encoder = TraceRequestEncoder()
    for batch in (first + second, second[:2] + first + second[2:]):
        assert ExportTraceServiceRequest.FromString(encoder.encode(batch)) == encode_spans(batch)


@pytest.mark.parametrize("sdk_metrics", [False, True])
def test_the_exporter_sends_the_encoded_request_over_http(monkeypatch: pytest.MonkeyPatch, sdk_metrics: bool) -> None:
    """With the SDK's exporter metrics on it exports as the SDK does: the same request either way."""
    bodies: list[bytes] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/v1/traces")
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", str(sdk_metrics).lower())
    try:
        exporter = EncodingSpanExporter()
        # this SDK hands its HTTP client bytes: the encoder is in use unless the SDK's metrics want its own path
        assert exporter._sends_bytes is not sdk_metrics
        spans = _finished(Resource.create({"service.name": "bank-a"}), _txcoord_spans)
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        exporter.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    assert [ExportTraceServiceRequest.FromString(body) for body in bodies] == [encode_spans(spans)]
