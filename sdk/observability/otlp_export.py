"""The OTLP/HTTP span exporter txcoord's processes use: the SDK's own (every ``OTEL_EXPORTER_OTLP_*`` setting,
its HTTP client, retries and compression), with its requests written by :class:`TraceRequestEncoder` (a quarter of
the CPU of the SDK's encoder). It depends on how the exporter hands bytes to its HTTP client, which is not public
API: where that is not as expected (another SDK version, whose encoder's pieces may be elsewhere too), or the SDK's
own exporter metrics are on, it exports exactly as the SDK does."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from sdk.observability.otlp_encoding import TraceRequestEncoder
from sdk.observability.span_records import readable_spans

log = logging.getLogger(__name__)


class EncodingSpanExporter(OTLPSpanExporter):
    def __init__(self) -> None:
        super().__init__()
        self._encoder: TraceRequestEncoder | None
        try:  # it borrows the SDK encoder's pieces for resources, scopes and unusual spans
            self._encoder = TraceRequestEncoder()
        except ImportError:
            log.debug("OTLP: this SDK's encoder is laid out differently; exporting as the SDK does", exc_info=True)
            self._encoder = None
        client = getattr(self, "_client", None)
        metrics_on = os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").strip().lower() == "true"
        self._sends_bytes = self._encoder is not None and callable(getattr(client, "export", None)) and not metrics_on

    @property
    def sends_bytes(self) -> bool:
        """True when :meth:`encode_records` makes the request body and :meth:`send_encoded` sends it."""
        return self._encoder is not None and self._sends_bytes

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._encoder is None or not self._sends_bytes or getattr(self, "_shutdown", True):
            return super().export(spans)
        try:
            data = self._encoder.encode(spans)
        except Exception:  # a span this encoder does not expect: the SDK's encoder says what is wrong with it
            log.debug("OTLP: encoding a batch of %d spans fell back to the SDK's encoder", len(spans), exc_info=True)
            return super().export(spans)
        limit = getattr(self, "_max_request_size", None)
        if isinstance(limit, int) and 0 < limit < len(data):
            return super().export(spans)  # it drops the batch and says why
        result = self._client.export(data)
        return SpanExportResult.SUCCESS if getattr(result, "success", False) else SpanExportResult.FAILURE

    def export_records(self, resource: Any, scope: Any, records: Sequence[Any]) -> SpanExportResult:
        """Export ``SpanRecord`` s (``sdk.observability.span_records``): written to the wire directly when this
        exporter sends bytes, else as SDK spans."""
        try:
            data = self.encode_records(resource, scope, records)
        except Exception:  # an attribute this encoder does not take (a list): the SDK's encoder does
            log.debug("OTLP: encoding %d records fell back to the SDK's encoder", len(records), exc_info=True)
            data = None
        if data is None:
            return self.export(readable_spans(resource, scope, records))
        return self.send_encoded(data, len(records))

    def encode_records(self, resource: Any, scope: Any, records: Sequence[Any]) -> bytes | None:
        """The request body for ``records``; None when this exporter cannot send bytes it did not encode."""
        if self._encoder is None or not self._sends_bytes:
            return None
        return self._encoder.encode_records(resource, scope, records)

    def send_encoded(self, data: bytes, spans: int) -> SpanExportResult:
        """Send a request body made by :meth:`encode_records` (from any thread: it encodes nothing)."""
        if getattr(self, "_shutdown", True):
            log.warning("OTLP: exporter already shut down; %d spans not sent", spans)
            return SpanExportResult.FAILURE
        limit = getattr(self, "_max_request_size", None)
        if isinstance(limit, int) and 0 < limit < len(data):  # as the SDK does: the batch is dropped, with a reason
            log.warning("OTLP: %d spans make %d bytes, over the limit of %d; dropped", spans, len(data), limit)
            return SpanExportResult.FAILURE
        result = self._client.export(data)
        return SpanExportResult.SUCCESS if getattr(result, "success", False) else SpanExportResult.FAILURE
