"""The proxy's statement spans (``dbproxy.tracing``): what a statement's text gives its span is worked out once per
distinct text, a text naming a client's span is never kept, and the backends' comment names the running span."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from dbproxy import tracing
from sdk.observability.span_records import SpanRecords

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Boom(Exception):
    pass


def test_statement_spans_name_their_parent_summary_and_errors_and_keep_only_plain_texts() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.create({"service.name": "dbproxy"}))
    records = SpanRecords(provider, exporter, "dbproxy")
    spans = tracing.StatementSpans(records, lambda: "bank")
    seen: list[tuple[str, bytes]] = []
    tracing._records = records  # commented() appends only when tracing is on

    async def work(sql: str) -> None:
        seen.append((sql, tracing.commented(b"\x03SELECT 1")))

    async def fail(_sql: str) -> None:
        raise Boom("no such table")

    async def run() -> None:
        for _ in range(2):
            await spans.run("SELECT c FROM sbtest1 WHERE id=?", work)
        await spans.run(f"UPDATE acct SET b=b-1 WHERE id=1 /*traceparent='{PARENT}'*/", work)
        with pytest.raises(Boom):
            await spans.run("SELECT c FROM sbtest1 WHERE id=?", fail)
        await spans.run("SELECT c FROM sbtest1 WHERE id IN (" + "1," * 5000 + "1)", work)  # too long to keep

    tracing._analyses.clear()
    try:
        asyncio.run(run())
        assert records.force_flush(10)
    finally:
        records.shutdown()
        tracing._records = None
    # neither the text naming a client's span nor the 10,000-character one is kept
    assert list(tracing._analyses) == ["SELECT c FROM sbtest1 WHERE id=?"]
    assert [sql for sql, _ in seen][:3] == ["SELECT c FROM sbtest1 WHERE id=?"] * 2 + [
        "UPDATE acct SET b=b-1 WHERE id=1"
    ]
    finished = exporter.get_finished_spans()
    assert [s.name for s in finished] == ["SELECT sbtest1"] * 2 + ["UPDATE acct"] + ["SELECT sbtest1"] * 2
    for span, (_sql, comment) in zip(finished[:3], seen[:3], strict=True):
        context = span.get_span_context()
        assert context is not None
        traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
        assert comment == f"\x03SELECT 1 /*traceparent='{traceparent}'*/".encode()
    joined = finished[2]
    assert joined.parent is not None and joined.parent.is_remote
    assert f"{joined.context.trace_id:032x}" == PARENT.split("-")[1]
    assert dict(finished[0].attributes or {}) == {
        "db.system.name": "mysql", "db.query.summary": "SELECT sbtest1", "db.namespace": "bank",
    }  # fmt: skip
    failed = finished[3]
    assert failed.status.description == "Boom: no such table"
    assert dict(failed.attributes or {})["error.type"] == "Boom"
    assert "error.type" not in dict(finished[0].attributes or {})  # the shared attribute set was not changed
