"""The read pages: overview, transactions (filtered, keyset-paged), one transaction, sagas, registry, chaos."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from console import chart, dag, views
from console.chaos_reports import find_reports, report_file
from sdk._proto import coordinator_pb2 as pb
from sdk.errors import RpcError
from sdk.registry.balancer import warmup_weight
from sdk.saga import SagaDefinitionError, parse_saga

if TYPE_CHECKING:
    from console.app import Console

STATES = (
    "BEGIN", "COMMITTING", "COMMITTED", "ROLLING_BACK", "ROLLED_BACK", "COMMIT_FAILED", "ROLLBACK_FAILED",
    "RESOLVED_MIXED",
    "RUNNING", "SUCCEEDED", "COMPENSATING", "COMPENSATED", "COMPENSATION_FAILED", "FORWARD_FAILED",
)  # fmt: skip
SAGA_STATES = ("RUNNING", "SUCCEEDED", "COMPENSATING", "COMPENSATED", "COMPENSATION_FAILED", "FORWARD_FAILED")
MODES = ("TCC", "SAGA", "XA")
# "older than" choices of the filter, in seconds
AGES = {"": 0.0, "1m": 60.0, "5m": 300.0, "15m": 900.0, "1h": 3600.0, "1d": 86400.0}
REPORT_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CHART_MINUTES = 15
NEEDING_A_PERSON = ("COMMIT_FAILED", "ROLLBACK_FAILED", "COMPENSATION_FAILED", "FORWARD_FAILED")


async def overview(console: Console, request: Request) -> Response:
    """Counts, the chart and who needs a person; when the coordinator (or its store) does not answer, the page
    still comes, saying so beside each coordinator's health: the moment someone needs it most."""
    client = console.coordinator.main
    health = await console.coordinator.health()
    now = time.time()
    listed, needing, minutes, problem = pb.ListReply(), [], [], ""
    try:
        listed = await client.list("", 1)
        for state in NEEDING_A_PERSON:
            if listed.counts.get(state):
                needing += list((await client.list(state, 20, skip_counts=True)).transactions)
        minutes = list(await client.activity(CHART_MINUTES))
    except RpcError as exc:
        problem = f"{client.address} answered {exc.code.name}: {exc.details}"
    return console.render(
        request,
        "overview.html",
        problem=problem,
        activity=chart.chart(minutes, CHART_MINUTES, now),
        chart_minutes=CHART_MINUTES,
        outcomes=chart.OUTCOMES,
        counts=sorted(listed.counts.items()),
        modes=sorted(listed.counts_by_mode.items()),
        total=sum(listed.counts.values()),
        needing=needing,
        health=health,
        now=now,
        age=views.age,
    )


def _filters(request: Request) -> tuple[dict[str, str], dict[str, object], str | None]:
    """(the form's values, the List request's filter fields, an error to show) from the query string."""
    q = request.query_params
    form = {k: q.get(k, "").strip() for k in ("state", "mode", "service", "gid_prefix", "older_than")}
    fields: dict[str, object] = {}
    if form["state"]:
        if form["state"] not in STATES:
            return form, fields, f"state: choose one of {', '.join(STATES)}"
        if form["state"] in SAGA_STATES:
            fields["mode"] = "SAGA"  # only sagas have these states: their mode's index finds them
    if form["mode"]:
        if form["mode"] not in MODES:
            return form, fields, f"mode: choose one of {', '.join(MODES)}"
        if fields.setdefault("mode", form["mode"]) != form["mode"]:
            return form, fields, f"state {form['state']} is a saga's: it never has mode {form['mode']}"
    if form["older_than"] not in AGES:
        return form, fields, f"older than: choose one of {', '.join(a for a in AGES if a)}"
    if AGES[form["older_than"]]:
        fields["older_than_seconds"] = AGES[form["older_than"]]
    if form["service"]:
        fields["service"] = form["service"]
    if form["gid_prefix"]:
        fields["gid_prefix"] = form["gid_prefix"]
    return form, fields, None


async def transactions(console: Console, request: Request) -> Response:
    form, fields, problem = _filters(request)
    after = request.query_params.get("after", "")
    size = console.settings.page_size
    rows: list[pb.TransactionInfo] = []
    more = False
    if problem is None:
        # one more than a page: whether a next page exists, without counting anything
        reply = await console.coordinator.main.list(
            form["state"], size + 1, skip_counts=True, after_gid=after, **fields
        )
        rows = list(reply.transactions[:size])
        more = len(reply.transactions) > size
    next_query = {**{k: v for k, v in form.items() if v}, "after": rows[-1].gid} if more else None
    return console.render(
        request,
        "transactions.html",
        status=400 if problem else 200,
        problem=problem,
        form=form,
        rows=rows,
        next_query=next_query,
        first_page=not after,
        states=STATES,
        modes=MODES,
        ages=[a for a in AGES if a],
        now=time.time(),
        age=views.age,
    )


async def transaction(console: Console, request: Request) -> Response:
    gid = request.query_params.get("gid", "")
    if not gid:
        return console.error(request, 400, "gid: give the transaction's gid (?gid=...)")
    detail = await console.coordinator.main.query(gid)
    trace_id = str(getattr(detail.transaction, "trace_id", ""))  # a coordinator that records trace ids sends it
    return console.render(
        request,
        "transaction.html",
        tx=detail.transaction,
        trace_id=trace_id,
        trace_url=views.trace_link(console.settings.tracing_url, trace_id),
        branches=detail.branches,
        timeline=views.timeline(detail),
        actions=views.actions_for(detail),
        what=views.branch_what,
        payload=views.payload_text,
        done=request.query_params.get("done", ""),
    )


async def sagas(console: Console, request: Request) -> Response:
    definitions = await console.coordinator.main.sagas.definitions()
    shown = []
    for d in definitions:
        try:
            parsed = parse_saga(d.source, f"{d.name} v{d.version}")
            drawing, description, problem = dag.layout(dag.shapes_of_definition(parsed.steps)), parsed.description, ""
        except SagaDefinitionError as exc:  # registered by an older version of the rules: show its text
            drawing, description, problem = None, "", str(exc)
        shown.append((d, drawing, description, problem))
    return console.render(request, "sagas.html", definitions=shown, dag=dag)


async def saga(console: Console, request: Request) -> Response:
    gid = request.query_params.get("gid", "")
    if not gid:
        return console.error(request, 400, "gid: give the saga's gid (?gid=...)")
    result = await console.coordinator.main.sagas.query(gid)
    detail = result.detail
    assert detail is not None, "a queried saga carries its detail"
    return console.render(
        request,
        "saga.html",
        saga=detail,
        drawing=dag.layout(dag.shapes_of_instance(detail.steps)),
        dag=dag,
        payload=views.payload_text,
        actions=views.saga_actions_for(detail),
        done=request.query_params.get("done", ""),
    )


async def registry(console: Console, request: Request) -> Response:
    endpoints = sorted(await console.coordinator.registry(), key=lambda e: (e.service, e.address))
    now, warmup = time.time(), console.settings.warmup
    weights = {e: warmup_weight(now - e.registered_at, warmup) for e in endpoints}
    return console.render(request, "registry.html", endpoints=endpoints, now=now, weights=weights, warmup=warmup)


async def chaos(console: Console, request: Request) -> Response:
    folder = console.settings.chaos_reports
    reports = find_reports(folder) if folder is not None else []
    return console.render(request, "chaos.html", folder=folder, reports=reports)


async def chaos_report(console: Console, request: Request) -> Response:
    folder = console.settings.chaos_reports
    path = report_file(folder, request.query_params.get("path", "")) if folder is not None else None
    if path is None:
        return console.error(request, 404, "no such chaos report under the configured folder")
    response = FileResponse(path, media_type="text/html")
    # the report is a file on disk: shown in a sandbox, it can run nothing and reach nothing of the console
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    return response
