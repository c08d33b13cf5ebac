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
from tests.integration.coordinator.test_bad_input import COORDINATOR_CASES, REGISTRY_CASES, SAGA_CASES
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


# (name, route, raw body, the field the 400 must name): every row of the gRPC bad-input table
# (tests/integration/coordinator/test_bad_input.py, under the same name) sent over REST, and a few rows only
# REST has. A ``bytes`` field ``X_json`` is the JSON value ``X`` here; invalid UTF-8 cannot be inside a JSON
# value, so it makes the whole body invalid: "body" is the field named.
REG = "/v1/transactions/g-ok/branches"
SAGA = "/v1/sagas/trip/instances"
ENDPOINTS = "/v1/registry/endpoints"
BAD_INPUT = [
    ("null payload", REG, branch('"payload": null'), "payload"),
    ("array payload", REG, branch('"payload": [1, 2]'), "payload"),
    ("phase action as a try", REG, '{"branch_id": "1", "service": "bank", "action": "debit.confirm"}', "action"),
    (
        "10k-character branch id",
        REG,
        '{"branch_id": "%s", "service": "bank", "action": "debit"}' % ("b" * 10_000),
        "branch_id",
    ),
    (
        "100 KB service name",
        REG,
        '{"branch_id": "1", "service": "%s", "action": "debit"}' % ("s" * 100_000),
        "service",
    ),
    ("NUL in gid", "/v1/transactions/g%00x/branches", branch('"payload": {}'), "gid"),
    ("invalid UTF-8 payload", REG, branch('"payload": {"a": "\xff\xfe"}'), "body"),
    ("escaped NUL in payload", REG, branch('"payload": {"a": "x\\u0000"}'), "payload"),
    ("lone surrogate in payload", REG, branch('"payload": {"a": "\\ud800"}'), "payload"),
    ("JSON nested 100k deep", REG, branch('"payload": ' + "[" * 100_000), "body"),
    ("NaN in payload", REG, branch('"payload": {"a": NaN}'), "payload"),
    ("timeout 1e308", REG, branch('"timeout_seconds": 1e308'), "timeout_seconds"),
    ("timeout as text", REG, branch('"timeout_seconds": "soon"'), "timeout_seconds"),
    ("unknown field", REG, branch('"colour": "red"'), "colour"),
    ("100k-character gid", "/v1/transactions", '{"gid": "%s"}' % ("g" * 100_000), "gid"),
    ("unicode gid", "/v1/transactions", '{"gid": "tx-\u00e9"}', "gid"),
    ("space in gid", "/v1/transactions", '{"gid": "tx 1"}', "gid"),
    ("array body", "/v1/transactions", "[1]", "body"),
    ("null body", "/v1/transactions", "null", "body"),
    ("body not JSON", "/v1/transactions", "{not json", "body"),
    ("NUL in gid on commit", "/v1/transactions/%00/commit", "{}", "gid"),
    (
        "10k untried branch id",
        "/v1/transactions/g/rollback",
        '{"untried_branch_ids": ["%s"]}' % ("u" * 10_000),
        "untried",
    ),
    ("ttl 1e308", ENDPOINTS, '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 1e308}', "ttl"),
    ("ttl NaN", ENDPOINTS, '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": NaN}', "ttl"),
    (
        "registry: 100 KB service name",
        ENDPOINTS,
        '{"service": "%s", "address": "127.0.0.1:1", "ttl_seconds": 5}' % ("s" * 100_000),
        "service",
    ),
    (
        "100 KB metadata",
        ENDPOINTS,
        '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5, "metadata": {"k": "%s"}}' % ("v" * 100_000),
        "metadata",
    ),
    (
        "100 KB address",
        ENDPOINTS,
        '{"service": "bank", "address": "%s:1", "ttl_seconds": 5}' % ("a" * 100_000),
        "address",
    ),
    (
        "http endpoint with a non-URL address",
        ENDPOINTS,
        '{"service": "bank", "address": "ftp://x", "ttl_seconds": 5, "metadata": {"protocol": "http"}}',
        "address",
    ),
    (
        "unknown protocol",
        ENDPOINTS,
        '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5, "metadata": {"protocol": "smtp"}}',
        "protocol",
    ),
    (
        "metadata value not a string",
        ENDPOINTS,
        '{"service": "bank", "address": "127.0.0.1:1", "ttl_seconds": 5, "metadata": {"k": 1}}',
        "metadata.k",
    ),
    ("invalid UTF-8 input", SAGA, '{"input": {"a": "\xff\xfe"}}', "body"),
    ("escaped NUL in input", SAGA, '{"input": {"a": "x\\u0000"}}', "input"),
    ("lone surrogate in input", SAGA, '{"input": {"a": "\\ud800"}}', "input"),
    ("input nested 100k deep", SAGA, '{"input": ' + "[" * 100_000, "body"),
    ("saga: unicode gid", SAGA, '{"gid": "saga-\u00e9"}', "gid"),
    ("saga: 100k-character gid", SAGA, '{"gid": "%s"}' % ("g" * 100_000), "gid"),
    # in the path: 60 KB, as httpx refuses to send a URL over 64 KB
    ("100 KB saga name", "/v1/sagas/%s/instances" % ("n" * 60_000), "{}", "name"),
    ("NUL in idempotency key", SAGA, '{"idempotency_key": "k\\u0000"}', "idempotency_key"),
    ("version not an integer", SAGA, '{"version": 1.5}', "version"),
]


def test_every_row_of_the_grpc_bad_input_table_is_sent_over_rest() -> None:
    """The gRPC table's rows (ResolveSaga has no REST route) each have a REST row of the same name."""
    grpc_rows = [name for name, *_ in COORDINATOR_CASES + SAGA_CASES]
    grpc_rows += [name for name, *_ in REGISTRY_CASES]
    rest_rows = {name.removeprefix("registry: ").removeprefix("saga: ") for name, *_ in BAD_INPUT}
    assert [name for name in grpc_rows if name not in rest_rows] == []


async def test_bad_input_gets_400_naming_the_field_and_stores_nothing(cluster: Cluster) -> None:
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    async with httpx.AsyncClient(base_url=f"http://{rest}", timeout=30) as http:
        for _name, path, body, field in BAD_INPUT:
            raw = body.encode("latin-1") if "\xff" in body else body.encode()  # invalid UTF-8 sent as such
            reply = await http.post(path, content=raw, headers={"content-type": "application/json"})
            where = f"{path[:60]} {body[:80]}"
            assert reply.status_code == 400, f"{where}: {reply.status_code} {reply.text[:300]}"
            answer = reply.json()
            assert answer["code"] == "INVALID_ARGUMENT" and field in answer["error"], f"{where}: {answer}"
            assert len(answer["error"]) <= 500, where  # never the whole input echoed back
    assert await query(cluster.store, "SELECT gid FROM txc_transaction") == []
