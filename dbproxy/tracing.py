"""The proxy's OpenTelemetry spans, configured only by the standard ``OTEL_*`` variables (off unless they ask).

A MySQL client joins a trace with a sqlcommenter comment, ``UPDATE ... /*traceparent='00-<trace>-<span>-01'*/``:
the proxy's span for that statement becomes a child of the client's (and the comment is taken off before
planning, so the plan cache still hits), and every query the proxy sends a backend while running it carries the
proxy span's own ``traceparent`` in the same comment form. Span and attribute names follow the semantic
conventions: ``db.system.name=mysql``, ``db.namespace``, ``db.query.summary`` (an operation and a table, never the
query text). A statement's span is a record exported in batches (``sdk.observability.span_records``), not an SDK
span: at 100 % sampling an SDK span per statement cost as much CPU as the statement. With tracing off a session
runs its plain query method and backends get the bytes unchanged."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from opentelemetry.trace import SpanContext

    from sdk.observability.span_records import SpanIds, SpanRecords

log = logging.getLogger("dbproxy.tracing")

_records: SpanRecords | None = None  # set when tracing is on
#: the running statement's span (its comment for backends is written only when a query is sent: prepared
#: statements and local answers never need one)
_statement: ContextVar[SpanIds | None] = ContextVar("dbproxy_statement_span", default=None)

# sqlcommenter: key='url-encoded value' pairs in a comment; the traceparent one, anywhere in the text
_TRACEPARENT = re.compile(r"/\*[^*]*?traceparent='([^']+)'[^*]*\*/")
_W3C = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_OPERATION = re.compile(r"^\s*([A-Za-z]+)")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE)\s+(`[^`]+`|[\w.]+)", re.IGNORECASE)
_QUERY = 0x03
_SYSTEM = ("db.system.name", "mysql")


def tracing_enabled() -> bool:
    return _records is not None


def current_trace_id() -> str | None:
    """The trace id of the statement running in this task, for log lines."""
    running = _statement.get()
    return None if running is None else f"{running.trace_id:032x}"


def setup_tracing(service_name: str = "dbproxy") -> bool:
    """Start recording statement spans if ``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_*`` ask for them."""
    global _records
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        exporter = "otlp" if endpoint else "none"
    if exporter == "none":
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        # the SDK's OTLP/HTTP exporter with a leaner encoder, shared with every txcoord process (no gRPC in it)
        from sdk.observability.otlp_export import EncodingSpanExporter

        span_exporter = EncodingSpanExporter()
    else:
        raise SystemExit(f"dbproxy: OTEL_TRACES_EXPORTER: expected otlp, console or none, got {exporter!r}")
    from sdk.observability.span_records import SpanRecords

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    # the provider reads the sampler (OTEL_TRACES_SAMPLER) and the resource (OTEL_RESOURCE_ATTRIBUTES) as the SDK
    # does; the statements' spans are records exported without an SDK span each (sdk.observability.span_records)
    provider = TracerProvider(resource=Resource.create({"service.name": name}), shutdown_on_exit=False)
    _records = SpanRecords(provider, span_exporter, "dbproxy")
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
    sqlcommenter comment names one. A statement's span is on the proxy's hottest path: it is a record
    (``sdk.observability.span_records``), not an SDK span."""

    def __init__(self, records: SpanRecords, database: Callable[[], str | None]) -> None:
        from opentelemetry.trace import SpanKind

        from sdk.observability.span_records import SpanRecord

        self._record = SpanRecord
        self._records = records
        self._database = database
        self._server = SpanKind.SERVER

    async def run(self, sql: str, work: Callable[[str], Awaitable[None]]) -> None:
        """``work`` (given ``sql`` without its comment) in the statement's span."""
        sql, parent = split_traceparent(sql)
        summary = query_summary(sql)
        ids = self._records.begin(summary, self._server, _remote_parent(parent) if parent else None)
        token = _statement.set(ids)
        start = time.time_ns()
        error: str | None = None
        try:
            await work(sql)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _statement.reset(token)
            if ids.sampled:
                attributes: tuple[tuple[str, str], ...] = (
                    _SYSTEM,
                    ("db.query.summary", summary),
                    ("db.namespace", self._database() or ""),
                )
                if error is not None:
                    attributes += (("error.type", error.partition(":")[0]),)
                record = self._record(
                    ids.trace_id, ids.span_id, ids.parent_span_id, ids.parent_is_remote, summary, self._server,
                    start, time.time_ns(), attributes, error,
                )  # fmt: skip
                self._records.add(record)


def _remote_parent(traceparent: str) -> SpanContext | None:
    from opentelemetry.trace import SpanContext, TraceFlags

    _version, trace_id, span_id, flags = traceparent.split("-")
    context = SpanContext(int(trace_id, 16), int(span_id, 16), True, TraceFlags(int(flags, 16) & 1))
    return context if context.is_valid else None


def statement_spans(database: Callable[[], str | None]) -> StatementSpans | None:
    """A session's statement spans when tracing is on, else None."""
    return StatementSpans(_records, database) if _records is not None else None


def traced(query: Callable[[str], Awaitable[None]], spans: StatementSpans | None) -> Callable[[str], Any]:
    """``query`` (a session's COM_QUERY handler) in a span per statement when tracing is on, else ``query``."""
    if spans is None:
        return query

    async def run(sql: str) -> None:
        await spans.run(sql, query)

    return run


def commented(payload: bytes) -> bytes:
    """A backend command with the running statement's traceparent comment appended (COM_QUERY only)."""
    if _records is None or payload[0] != _QUERY:
        return payload
    running = _statement.get()
    return payload if running is None else payload + f" /*traceparent='{running.traceparent()}'*/".encode()
