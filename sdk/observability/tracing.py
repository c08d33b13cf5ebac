"""OpenTelemetry tracing, configured only by the standard ``OTEL_*`` variables and off unless they ask for it.

``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; ``otlp`` is implied by an ``OTEL_EXPORTER_OTLP_*``
endpoint), ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP),
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (read by the SDK itself), ``OTEL_SERVICE_NAME``.
When nothing is configured no provider is installed, and code on the hot path checks :func:`tracing_enabled`
once instead of building spans."""

from __future__ import annotations

import logging
import os

from sdk.errors import ConfigError

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
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
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


def current_trace_id() -> str | None:
    if not _enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
