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
from collections.abc import Mapping
from typing import Any

from sdk.errors import ConfigError
from sdk.rpc.context import current_traceparent

log = logging.getLogger(__name__)

EXPORTERS = ("otlp", "console", "none")
_enabled = False


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
    global _enabled
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

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from sdk.observability.otlp_export import EncodingSpanExporter

        exporter = EncodingSpanExporter()  # the SDK's OTLP/HTTP exporter with a cheaper encoder
    # OTEL_SERVICE_NAME wins over the process's own name; the sampler comes from OTEL_TRACES_SAMPLER
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _enabled = True
    log.info("tracing: exporting spans (%s) as %s", exporter_name, resource.attributes.get("service.name"))
    return True


def shutdown_tracing() -> None:
    """Flush what is buffered (a process about to exit)."""
    if not _enabled:
        return
    from opentelemetry import trace

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
    span = spans.tracer.start_span(
        name, context=parent_context(traceparent), kind=spans.kinds[kind], attributes=attributes
    )
    return _CurrentSpan(spans, span)


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
