"""The proxy's OpenTelemetry spans, configured only by the standard ``OTEL_*`` variables (off unless they ask).

A MySQL client joins a trace with a sqlcommenter comment, ``UPDATE ... /*traceparent='00-<trace>-<span>-01'*/``:
the proxy's span for that statement becomes a child of the client's (and the comment is taken off before
planning, so the plan cache still hits), and every query the proxy sends a backend while running it carries the
proxy span's own ``traceparent`` in the same comment form. Span and attribute names follow the semantic
conventions: ``db.system.name=mysql``, ``db.namespace``, ``db.query.summary`` (an operation and a table, never the
query text). With tracing off a session runs its plain query method and backends get the bytes unchanged."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("dbproxy.tracing")

_enabled = False
#: the comment to append to queries sent to backends while a traced statement runs
_backend_comment: ContextVar[bytes | None] = ContextVar("dbproxy_trace_comment", default=None)

# sqlcommenter: key='url-encoded value' pairs in a comment; the traceparent one, anywhere in the text
_TRACEPARENT = re.compile(r"/\*[^*]*?traceparent='([^']+)'[^*]*\*/")
_W3C = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_OPERATION = re.compile(r"^\s*([A-Za-z]+)")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE)\s+(`[^`]+`|[\w.]+)", re.IGNORECASE)
_QUERY = 0x03


def tracing_enabled() -> bool:
    return _enabled


def setup_tracing(service_name: str = "dbproxy") -> bool:
    """Install a tracer provider if ``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_*`` ask for one."""
    global _enabled
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        exporter = "otlp" if endpoint else "none"
    if exporter == "none":
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        # the SDK's OTLP/HTTP exporter with a leaner encoder, shared with every txcoord process (no gRPC in it)
        from sdk.observability.otlp_export import EncodingSpanExporter

        span_exporter = EncodingSpanExporter()
    else:
        raise SystemExit(f"dbproxy: OTEL_TRACES_EXPORTER: expected otlp, console or none, got {exporter!r}")
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def split_traceparent(sql: str) -> tuple[str, str | None]:
    """``sql`` without its sqlcommenter comment, and the ``traceparent`` it carried (None: none or malformed)."""
    found = _TRACEPARENT.search(sql)
    if found is None:
        return sql, None
    value = unquote(found.group(1))
    stripped = (sql[: found.start()] + sql[found.end() :]).rstrip()
    return stripped, value if _W3C.match(value) else None


def query_summary(sql: str) -> str:
    """``db.query.summary``: the operation and, when there is one, the table (``UPDATE acct``, ``BEGIN``)."""
    found = _OPERATION.match(sql)
    if found is None:
        return "OTHER"
    table = _TABLE.search(sql, 0 if found.group(1).upper() == "UPDATE" else found.end())
    op = found.group(1).upper()
    return f"{op} {table.group(1).strip('`')}" if table else op


class StatementSpans:
    """One span per statement a session runs (text or prepared), child of the client's span when the statement's
    sqlcommenter comment names one. Looked up once per session: a statement's span is on the proxy's hottest
    path."""

    def __init__(self, database: Callable[[], str | None]) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._database = database
        self._tracer = trace.get_tracer("dbproxy")
        self._propagator = TraceContextTextMapPropagator()
        self._context, self._trace = context, trace

    async def run(self, sql: str, work: Callable[[str], Awaitable[None]]) -> None:
        """``work`` (given ``sql`` without its comment) in the statement's span."""
        trace = self._trace
        sql, parent = split_traceparent(sql)
        summary = query_summary(sql)
        attributes = {"db.system.name": "mysql", "db.query.summary": summary, "db.namespace": self._database() or ""}
        span = self._tracer.start_span(
            summary,
            context=self._propagator.extract({"traceparent": parent}) if parent else None,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )
        # current for the statement (what start_as_current_span does, without its two generator layers)
        context_token = self._context.attach(trace.set_span_in_context(span))
        ctx = span.get_span_context()
        own = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        token = _backend_comment.set(f" /*traceparent='{own}'*/".encode())
        try:
            await work(sql)
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            _backend_comment.reset(token)
            self._context.detach(context_token)
            span.end()


def statement_spans(database: Callable[[], str | None]) -> StatementSpans | None:
    """A session's statement spans when tracing is on, else None."""
    return StatementSpans(database) if _enabled else None


def traced(query: Callable[[str], Awaitable[None]], spans: StatementSpans | None) -> Callable[[str], Any]:
    """``query`` (a session's COM_QUERY handler) in a span per statement when tracing is on, else ``query``."""
    if spans is None:
        return query

    async def run(sql: str) -> None:
        await spans.run(sql, query)

    return run


def commented(payload: bytes) -> bytes:
    """A backend command with the running statement's traceparent comment appended (COM_QUERY only)."""
    if not _enabled or payload[0] != _QUERY:
        return payload
    comment = _backend_comment.get()
    return payload if comment is None else payload + comment
