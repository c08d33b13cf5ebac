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
_COMMENT = b" /*traceparent='00-%032x-%016x-%s'*/"  # bytes formatting: half the CPU of an f-string encoded
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
    found = _TRACEPARENT.search(sql) if "traceparent" in sql else None  # a substring test first: most have none
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
    (``sdk.observability.span_records``), not an SDK span, and what a statement's text gives it (the text without
    its comment, the summary) and its attributes are worked out once per distinct text and database."""

    def __init__(self, records: SpanRecords, database: Callable[[], str | None]) -> None:
        from opentelemetry.trace import SpanKind

        from sdk.observability.span_records import SpanRecord

        self._record = SpanRecord
        self._begin = records.begin
        self._add = records.add
        self._database = database
        self._server = SpanKind.SERVER
        self._analyses = _analyses
        self._attribute_sets = _attribute_sets

    async def run(self, sql: str, work: Callable[[str], Awaitable[None]]) -> None:
        """``work`` (given ``sql`` without its comment) in the statement's span."""
        sql, parent, summary = self._analyses.get(sql) or _analyse(sql)
        ids = self._begin(summary, self._server, parent)
        token = _statement.set(ids)
        start = time.time_ns()
        try:
            await work(sql)
        except Exception as exc:
            _statement.reset(token)
            if ids.sampled:
                self._finish(ids, summary, start, exc)
            raise
        _statement.reset(token)
        if ids.sampled:
            self._finish(ids, summary, start, None)

    def _finish(self, ids: SpanIds, summary: str, start: int, exc: Exception | None) -> None:
        end = time.time_ns()
        key = (summary, self._database() or "")
        attributes = self._attribute_sets.get(key)
        if attributes is None:
            attributes = _attributes_of(key)
        error = None
        if exc is not None:
            error = f"{type(exc).__name__}: {exc}"
            attributes += (("error.type", type(exc).__name__),)
        record = self._record(
            ids.trace_id, ids.span_id, ids.parent_span_id, ids.parent_is_remote, summary, self._server,
            start, end, attributes, error,
        )  # fmt: skip
        self._add(record)


_MAX_CACHED = 4096  # distinct statement texts / (summary, database) pairs kept; past it they start again
_MAX_CACHED_TEXT = 4096  # characters: a longer text is analysed each time (4096 of 16 MB texts would be 64 GB)
_Analysis = tuple[str, "SpanContext | None", str]
#: a statement's text -> (the text without its comment, its client's span, its summary); texts that name a
#: client's span are new each time and not kept
_analyses: dict[str, _Analysis] = {}
_attribute_sets: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}  # (summary, database) -> attributes


def _analyse(sql: str) -> _Analysis:
    stripped, traceparent = split_traceparent(sql)
    parent = _remote_parent(traceparent) if traceparent else None
    analysis = (stripped, parent, query_summary(stripped))
    if parent is None and len(sql) <= _MAX_CACHED_TEXT:
        if len(_analyses) >= _MAX_CACHED:
            _analyses.clear()
        _analyses[sql] = analysis
    return analysis


def _attributes_of(key: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    summary, database = key
    attributes = (_SYSTEM, ("db.query.summary", summary), ("db.namespace", database))
    if len(_attribute_sets) >= _MAX_CACHED:
        _attribute_sets.clear()
    _attribute_sets[key] = attributes
    return attributes


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
    if running is None:
        return payload
    return payload + _COMMENT % (running.trace_id, running.span_id, b"01" if running.sampled else b"00")
