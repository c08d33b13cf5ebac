"""The coordinator's REST API is seen like its gRPC front: each call is counted and timed by method and status
code (``txc_rest_server_duration_seconds``), and is a server span that continues the caller's ``traceparent``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.integration.observability.otlp_receiver import OtlpReceiver, ReceivedSpan, otel_env
from tests.integration.observability.scrape import scrape, value
from tests.support import ChildProcess, free_port, start_process
from tests.support.polling import wait_until
from txcoord.store.migrations import upgrade

FAMILY = "txc_rest_server_duration_seconds_count"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_rest_calls_are_counted_by_method_and_code_and_traced_under_the_callers_span(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, databases: list[str]
) -> None:
    store = databases[0]
    upgrade(store)
    grpc_listen, rest, metrics = (f"127.0.0.1:{free_port()}" for _ in range(3))
    args = ["txc", "coordinator", "--listen", grpc_listen, "--store", store, "--http-listen", rest,
            "--metrics-listen", metrics]  # fmt: skip
    processes.append(start_process(args, tmp_path / "logs", "coordinator", env=otel_env(receiver, "coordinator")))
    processes[-1].wait_serving(grpc_listen)
    gid = f"rest-observed-{uuid.uuid4().hex[:8]}"
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    begun = _post(
        f"http://{rest}/v1/transactions",
        json.dumps({"gid": gid, "timeout_seconds": 30}).encode(),
        {"traceparent": traceparent, "content-type": "application/json"},
    )
    assert begun[0] == 200, begun
    refused = _post(f"http://{rest}/v1/transactions/{gid}/commit", b"{not json", {})
    assert refused[0] == 400 and refused[1]["code"] == "INVALID_ARGUMENT", refused

    samples = scrape(metrics)
    assert value(samples, FAMILY, rpc_method="Begin", code="OK") == 1
    assert value(samples, FAMILY, rpc_method="Commit", code="INVALID_ARGUMENT") == 1
    assert value(samples, FAMILY) == 2  # the REST calls only: they are not counted as gRPC calls too
    assert value(samples, "txc_rpc_server_duration_seconds_count", rpc_method="Begin") == 0

    def rest_spans() -> list[ReceivedSpan]:
        spans = [s for s in receiver.received() if s.service == "coordinator" and "http.route" in s.attributes]
        return spans if len(spans) == 2 else []

    spans = wait_until(rest_spans, 30, "the coordinator's spans of both REST calls")
    (begin,) = [s for s in spans if s.name == "POST /v1/transactions"]
    assert (begin.trace_id, begin.parent_id) == (CALLER_TRACE, CALLER_SPAN)  # the caller's trace goes on
    assert begin.attributes["http.response.status_code"] == 200
    (commit,) = [s for s in spans if s.name == "POST /v1/transactions/{gid}/commit"]  # the route, not the gid
    assert commit.attributes["http.response.status_code"] == 400
    assert commit.trace_id != CALLER_TRACE and commit.parent_id == ""  # no traceparent: a trace of its own
