"""The coordinator's REST API against its own OpenAPI document (Schemathesis, real coordinator), with the same
tokens and TLS as the gRPC front."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.coordinator.cluster import Cluster, query
from tests.support import free_port

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.mark.slow
async def test_schemathesis_finds_no_5xx_and_every_answer_matches_the_document(
    cluster: Cluster, tmp_path: Path
) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    # one worker: CPython 3.11's ast module is not thread-safe (gh-106905, "AST constructor recursion depth
    # mismatch"), and hypothesis parses lambdas with it while two workers generate cases
    args = [SCHEMATHESIS, "run", f"http://{rest}/openapi.json", "--no-color", "--seed", "21", "--workers", "1"]
    args += ["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance"]
    args += ["--checks", "content_type_conformance,negative_data_rejection"]
    args += ["--max-examples", "8", "--phases", "examples,coverage,fuzzing", "--generation-database", "none"]
    args += ["--suppress-health-check", "all", "--request-timeout", "20"]
    done = await asyncio.to_thread(subprocess.run, args, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout


GOOD_BRANCH = '"branch_id": "1", "service": "bank", "action": "debit"'


def branch(extra: str) -> str:
    """A good RegisterBranch body plus ``extra`` (raw JSON text: it may be what JSON cannot hold)."""
    return "{" + GOOD_BRANCH + ", " + extra + "}"


# (route, raw body, the field the 400 must name): the gRPC bad-input table's rows, sent over REST
BAD_INPUT = [
    ("/v1/transactions/g-ok/branches", branch('"payload": null'), "payload"),
    ("/v1/transactions/g-ok/branches", branch('"payload": [1, 2]'), "payload"),
    ("/v1/transactions/g-ok/branches", '{"branch_id": "1", "service": "bank", "action": "debit.confirm"}', "action"),
    (
        "/v1/transactions/g-ok/branches",
        '{"branch_id": "%s", "service": "bank", "action": "debit"}' % ("b" * 10_000),
        "branch_id",
    ),
    (
        "/v1/transactions/g-ok/branches",
        '{"branch_id": "1", "service": "%s", "action": "debit"}' % ("s" * 100_000),
        "service",
    ),
    ("/v1/transactions/g%00x/branches", branch('"payload": {}'), "gid"),
    ("/v1/transactions/g-ok/branches", branch('"payload": {"a": "x\\u0000"}'), "payload"),
    ("/v1/transactions/g-ok/branches", branch('"payload": {"a": "\\ud800"}'), "payload"),
    ("/v1/transactions/g-ok/branches", branch('"payload": ' + "[" * 100_000), "body"),
    ("/v1/transactions/g-ok/branches", branch('"payload": {"a": NaN}'), "payload"),
    ("/v1/transactions/g-ok/branches", branch('"timeout_seconds": 1e308'), "timeout_seconds"),
    ("/v1/transactions/g-ok/branches", branch('"timeout_seconds": "soon"'), "timeout_seconds"),
    ("/v1/transactions/g-ok/branches", branch('"colour": "red"'), "colour"),
    ("/v1/transactions", '{"gid": "%s"}' % ("g" * 100_000), "gid"),
    ("/v1/transactions", '{"gid": "tx-\u00e9"}', "gid"),
    ("/v1/transactions", '{"gid": "tx 1"}', "gid"),
    ("/v1/transactions", "[1]", "body"),
    ("/v1/transactions", "null", "body"),
    ("/v1/transactions", "{not json", "body"),
    ("/v1/transactions/%00/commit", "{}", "gid"),
    ("/v1/transactions/g/rollback", '{"untried_branch_ids": ["%s"]}' % ("u" * 10_000), "untried"),
    ("/v1/registry/endpoints", '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 1e308}', "ttl"),
    ("/v1/registry/endpoints", '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": NaN}', "ttl"),
    (
        "/v1/registry/endpoints",
        '{"service": "bank", "address": "ftp://x", "ttl_seconds": 5, "metadata": {"protocol": "http"}}',
        "address",
    ),
    (
        "/v1/registry/endpoints",
        '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5, "metadata": {"protocol": "smtp"}}',
        "protocol",
    ),
    (
        "/v1/registry/endpoints",
        '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5, "metadata": {"k": 1}}',
        "metadata.k",
    ),
    ("/v1/sagas/trip/instances", '{"input": {"a": "x\\u0000"}}', "input"),
    ("/v1/sagas/trip/instances", '{"gid": "saga-\u00e9"}', "gid"),
    ("/v1/sagas/%s/instances" % ("n" * 5_000), "{}", "name"),
    ("/v1/sagas/trip/instances", '{"idempotency_key": "k\\u0000"}', "idempotency_key"),
    ("/v1/sagas/trip/instances", '{"version": 1.5}', "version"),
]


async def test_bad_input_gets_400_naming_the_field_and_stores_nothing(cluster: Cluster) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    async with httpx.AsyncClient(base_url=f"http://{rest}", timeout=30) as http:
        for path, body, field in BAD_INPUT:
            reply = await http.post(path, content=body.encode(), headers={"content-type": "application/json"})
            where = f"{path[:60]} {body[:80]}"
            assert reply.status_code == 400, f"{where}: {reply.status_code} {reply.text[:300]}"
            answer = reply.json()
            assert answer["code"] == "INVALID_ARGUMENT" and field in answer["error"], f"{where}: {answer}"
            assert len(answer["error"]) <= 500, where  # never the whole input echoed back
    assert await query(cluster.store, "SELECT gid FROM txc_transaction") == []
