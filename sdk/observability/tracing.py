"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` variables and off unless they ask for it.

``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; ``otlp`` is implied by an ``OTEL_EXPORTER_OTLP_*``
endpoint), ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP),
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (read by the SDK itself), ``OTEL_SERVICE_NAME``.
When nothing is configured no provider is installed, and code on the hot path checks :func:`tracing_enabled`
once instead of building spans."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sdk.errors import ConfigError
from sdk.rpc.context import current_traceparent

if TYPE_CHECKING:
    from sdk.observability.span_records import SpanIds, SpanRecords

log = logging.getLogger(__name__)

EXPORTERS = ("otlp", "console", "none")
_enabled = False
_records: SpanRecords | None = None  # txcoord's spans as records: set when txcoord installed the tracer provider


def tracing_enabled() -> bool:
    return _enabled


def _exporter_name() -> str:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not name:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return "otlp" if endpoint else "none"
    if name not in EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER: expected one of {', '.join(EXPORTERS)}, got {name!r}")
    return name


def setup_tracing(service_name: str) -> bool:
    """Install a tracer provider exporting as the environment says; True if tracing is now on. Idempotent."""
    global _enabled, _records
    if _enabled:
        return True
    exporter_name = _exporter_name()
    if exporter_name == "none":
        return False
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):  # the application installed its own
        _enabled = True
        return True
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    from sdk.observability.otlp_export import EncodingSpanExporter
    from sdk.observability.span_records import SpanRecords

    def new_exporter() -> SpanExporter:  # the SDK's OTLP/HTTP exporter with a cheaper encoder, or the console
        return ConsoleSpanExporter() if exporter_name == "console" else EncodingSpanExporter()

    # OTEL_SERVICE_NAME wins over the process's own name; the sampler comes from OTEL_TRACES_SAMPLER
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(new_exporter()))  # spans the application starts (the API)
    trace.set_tracer_provider(provider)
    # txcoord's own spans: records on an exporter of their own (sdk.observability.span_records)
    _records = SpanRecords(provider, new_exporter(), TRACER)
    _enabled = True
    log.info("tracing: exporting spans (%s) as %s", exporter_name, resource.attributes.get("service.name"))
    return True


def shutdown_tracing() -> None:
    """Flush what is buffered (a process about to exit)."""
    if not _enabled:
        return
    from opentelemetry import trace

    if _records is not None:
        _records.shutdown()
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def outgoing_traceparent() -> str:
    """The traceparent a request made now carries: the current span's, else the task's incoming one, else ""."""
    if _enabled:
        from opentelemetry import trace

        span = trace.get_current_span()
        if span.get_span_context().is_valid:
            return traceparent_of(span)
    return current_traceparent.get() or ""


def current_trace_id() -> str | None:
    if not _enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


TRACER = "txcoord"


def traceparent_of(span: Any) -> str:
    """The W3C ``traceparent`` naming ``span`` as the parent."""
    if type(span) is _RecordedSpan:
        return span.ids.traceparent()
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class _Cached:
    """What every span needs, looked up once per tracer provider instead of once per span (``get_tracer`` alone
    cost about a third of a span) and imported only once tracing is on."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer(TRACER)
        self.propagator = TraceContextTextMapPropagator()
        self.kinds = {
            "internal": trace.SpanKind.INTERNAL,
            "server": trace.SpanKind.SERVER,
            "client": trace.SpanKind.CLIENT,
        }
        self.get_current_span = trace.get_current_span
        self.span_context = trace.SpanContext
        self.non_recording_span = trace.NonRecordingSpan
        self.trace_flags = trace.TraceFlags
        self.set_span_in_context = trace.set_span_in_context
        self.attach = context.attach
        self.detach = context.detach
        self.status = trace.Status
        self.error = trace.StatusCode.ERROR
        from sdk.observability.span_records import SpanRecord

        self.records = _records if provider is getattr(_records, "provider", None) else None
        self.record = SpanRecord
        self.sampled_flags = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        self.unsampled_flags = trace.TraceFlags(trace.TraceFlags.DEFAULT)


_cached: _Cached | None = None
# a W3C traceparent of version 00 and nothing more (later versions may append fields: the propagator reads those)
_VERSION_00 = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")


def _spans() -> _Cached:
    global _cached
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if _cached is None or _cached.provider is not provider:
        _cached = _Cached(provider)
    return _cached


def parent_context(traceparent: str | None) -> Any:
    """The OpenTelemetry context to start a span in: the current span if there is one, else ``traceparent``
    (from gRPC metadata or a SQL comment; a malformed one is ignored), else the task's incoming traceparent."""
    spans = _spans()
    if traceparent is None and spans.get_current_span().get_span_context().is_valid:
        return None  # the current context
    carrier = traceparent or current_traceparent.get()
    if not carrier:
        return None
    if _VERSION_00.match(carrier):  # what every txcoord process sends: parsed without the propagator's detours
        context = spans.span_context(
            int(carrier[3:35], 16),
            int(carrier[36:52], 16),
            is_remote=True,
            trace_flags=spans.trace_flags(int(carrier[53:55], 16)),
        )
        if context.is_valid:
            return spans.set_span_in_context(spans.non_recording_span(context))
    return spans.propagator.extract({"traceparent": carrier})  # anything else, as the W3C rules say


class _CurrentSpan:
    """A started span made current until the block ends, then ended; an exception leaving the block is recorded
    on it and sets its status to ERROR (what ``start_as_current_span`` does, without its two generator layers)."""

    __slots__ = ("_context_token", "_spans", "_traceparent_token", "span")

    def __init__(self, spans: _Cached, span: Any) -> None:
        self._spans = spans
        self.span = span

    def __enter__(self) -> Any:
        self._context_token = self._spans.attach(self._spans.set_span_in_context(self.span))
        self._traceparent_token = current_traceparent.set(traceparent_of(self.span))
        return self.span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        current_traceparent.reset(self._traceparent_token)
        self._spans.detach(self._context_token)
        span = self.span
        # like the SDK: only an Exception is an error (not a CancelledError or GeneratorExit)
        if isinstance(exc, Exception) and span.is_recording():
            span.record_exception(exc)
            span.set_status(self._spans.status(self._spans.error, f"{type(exc).__name__}: {exc}"))
        span.end()


def start_span(
    name: str,
    *,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    traceparent: str | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A span made current for the block (callers check :func:`tracing_enabled` first, so that with tracing off
    nothing is built). While it runs, ``current_traceparent`` names it, so gRPC calls made inside carry it."""
    spans = _spans()
    if spans.records is not None:
        ids = spans.records.begin(name, spans.kinds[kind], _parent_span_context(spans, traceparent))
        return _RecordedSpan(spans, ids, name, kind, attributes)
    span = spans.tracer.start_span(
        name, context=parent_context(traceparent), kind=spans.kinds[kind], attributes=attributes
    )
    return _CurrentSpan(spans, span)


def _parent_span_context(spans: _Cached, traceparent: str | None) -> Any:
    """The parent's ``SpanContext`` as :func:`parent_context` finds it (None: a root span), without building an
    OpenTelemetry context around it."""
    if traceparent is None:
        current = spans.get_current_span().get_span_context()
        if current.is_valid:
            return current
        traceparent = current_traceparent.get()
        if not traceparent:
            return None
    if _VERSION_00.match(traceparent):
        context = spans.span_context(
            int(traceparent[3:35], 16),
            int(traceparent[36:52], 16),
            is_remote=True,
            trace_flags=spans.trace_flags(int(traceparent[53:55], 16)),
        )
    else:  # anything else, as the W3C rules say
        context = spans.get_current_span(spans.propagator.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None


def current_span() -> Any:
    """The span running now (txcoord's own, or one the application started), to set attributes on."""
    recorded = _current_recorded.get()
    if recorded is not None:
        return recorded
    from opentelemetry import trace

    return trace.get_current_span()


_current_recorded: ContextVar[_RecordedSpan | None] = ContextVar("txc_recorded_span", default=None)


class _RecordedSpan:
    """txcoord's span as a record (``sdk.observability.span_records``: a fifth of an SDK span's CPU), made current
    until the block ends. The OpenTelemetry context holds a non-recording span with its ids meanwhile, so spans
    the application starts inside through the API are its children; an exception leaving the block sets its status
    to ERROR and its ``error.type``."""

    __slots__ = ("_spans", "_start", "_tokens", "attributes", "ids", "kind", "name")

    def __init__(self, spans: _Cached, ids: SpanIds, name: str, kind: str, attributes: Mapping[str, Any] | None):
        self._spans = spans
        self.ids = ids
        self.name = name
        self.kind = kind
        self.attributes = dict(attributes) if attributes else {}

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def is_recording(self) -> bool:
        return self.ids.sampled

    def get_span_context(self) -> Any:
        spans, ids = self._spans, self.ids
        flags = spans.sampled_flags if ids.sampled else spans.unsampled_flags
        return spans.span_context(ids.trace_id, ids.span_id, is_remote=False, trace_flags=flags)

    def __enter__(self) -> _RecordedSpan:
        spans = self._spans
        self._tokens = (
            spans.attach(spans.set_span_in_context(spans.non_recording_span(self.get_span_context()))),
            current_traceparent.set(self.ids.traceparent()),
            _current_recorded.set(self),
        )
        self._start = time.time_ns()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        end = time.time_ns()
        spans = self._spans
        context_token, traceparent_token, recorded_token = self._tokens
        _current_recorded.reset(recorded_token)
        current_traceparent.reset(traceparent_token)
        spans.detach(context_token)
        ids = self.ids
        if not ids.sampled or spans.records is None:
            return
        error = None
        if isinstance(exc, Exception):  # like the SDK: not a CancelledError or GeneratorExit
            error = f"{type(exc).__name__}: {exc}"
            self.attributes["error.type"] = type(exc).__name__
        spans.records.add(
            spans.record(
                ids.trace_id, ids.span_id, ids.parent_span_id, ids.parent_is_remote, self.name,
                spans.kinds[self.kind], self._start, end, tuple(self.attributes.items()), error,
            )
        )  # fmt: skip


def open_span(name: str, attributes: Mapping[str, Any]) -> contextlib.ExitStack | None:
    """A current span that outlives one block (``__aenter__`` to ``__aexit__``); None when tracing is off.
    End it with :func:`close_span`."""
    if not _enabled:
        return None
    stack = contextlib.ExitStack()
    stack.enter_context(start_span(name, attributes=attributes))
    return stack


def close_span(stack: contextlib.ExitStack | None) -> None:
    if stack is not None:
        stack.close()
