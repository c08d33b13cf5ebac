"""One trace per global transaction: spans exported by every process of a transfer (caller, coordinator, two
participants) reach an OTLP/HTTP receiver, share one trace id and form the expected tree."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.coordinator.sagas import SERVICES, TRIP
from tests.integration.observability.otlp_receiver import OtlpReceiver, ReceivedSpan, otel_env
from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, start_proxy
from tests.integration.proxy.rawclient import RawClient, error_code
from tests.integration.proxy.xa.rig import XaRig, connect, direct
from tests.support import (
    ChildProcess,
    create_mariadb_database,
    drop_mariadb_database,
    free_port,
    start_process,
)
from tests.support.polling import wait_until
from txcoord.store.migrations import upgrade

REPO = Path(__file__).resolve().parents[3]


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_id == parent.span_id]


def _traced_coordinator(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, store: str
) -> tuple[str, Path]:
    """A coordinator on a migrated ``store`` exporting its spans to ``receiver``: (its address, the log folder)."""
    upgrade(store)
    log_dir = tmp_path / "logs"
    coordinator = f"127.0.0.1:{free_port()}"
    args = ["txc", "coordinator", "--listen", coordinator, "--store", store, "--scan-interval", "0.2"]
    processes.append(start_process(args, log_dir, "coordinator", env=otel_env(receiver, "coordinator")))
    processes[-1].wait_serving(coordinator)
    return coordinator, log_dir


def _traced_caller(receiver: OtlpReceiver, coordinator: str, *mode: str) -> str:
    """tests/integration/observability/traced_caller.py run once, tracing to ``receiver``: the gid it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.observability.traced_caller", coordinator, *mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **otel_env(receiver, "caller")},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_a_transfer_is_one_trace_through_caller_coordinator_and_both_participants(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, databases: list[str]
) -> None:
    store, bank_a, bank_b = databases
    coordinator, log_dir = _traced_coordinator(tmp_path, processes, receiver, store)
    for service, db, account in (("bank-a", bank_a, "A=100"), ("bank-b", bank_b, "B=100")):
        listen = f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "demo.bank", "--service", service, "--db", db, "--registry", coordinator]
        args += ["--listen", listen, "--accounts", account, "--ttl", "2"]
        processes.append(start_process(args, log_dir, service, env=otel_env(receiver, service)))
        processes[-1].wait_serving(listen)
    gid = _traced_caller(receiver, coordinator)

    def whole_tree() -> list[ReceivedSpan]:
        """The transaction's trace once every process exported its part: both confirms, and no span whose
        parent has not arrived yet (each process exports on its own schedule)."""
        spans = receiver.received()
        root = next((s for s in spans if s.name == "txc.transaction" and s.attributes.get("txc.gid") == gid), None)
        if root is None:
            return []
        trace = [s for s in spans if s.trace_id == root.trace_id]
        ids = {s.span_id for s in trace}
        confirms = [s for s in trace if s.attributes.get("txc.op") == "confirm"]
        complete = len(confirms) == 2 and all(s.parent_id in ids for s in trace if s is not root)
        return trace if complete else []

    wait_until(whole_tree, 30, "the whole trace: both confirms and every span's parent")
    spans = receiver.received()
    root = next(s for s in spans if s.name == "txc.transaction")
    assert root.attributes["txc.gid"] == gid and root.parent_id == "" and root.service == "caller"
    trace = [s for s in spans if s.trace_id == root.trace_id]
    assert {s.service for s in trace} == {"caller", "coordinator", "bank-a", "bank-b"}
    assert len({s.trace_id for s in spans if s.attributes.get("txc.gid") == gid}) == 1  # nothing of it elsewhere
    by_id = {s.span_id: s for s in trace}
    orphans = [(s.service, s.name, s.attributes) for s in trace if s is not root and s.parent_id not in by_id]
    assert orphans == []  # one tree

    # the caller: its tries are client spans under the root; each participant's try is a server span under them
    tries = [
        s
        for s in _children(trace, root)
        if s.service == "caller" and s.attributes.get("rpc.method") in ("debit", "credit")
    ]
    assert sorted(s.name for s in tries) == ["bank-a/debit", "bank-b/credit"]
    for call in tries:
        (served,) = _children(trace, call)
        assert served.service == call.attributes["rpc.service"]
        assert served.attributes["txc.op"] == "try" and served.attributes["txc.gid"] == gid
    # the coordinator: a span per op of the session, under the root; phase 2 under the commit
    ops = {s.attributes["rpc.method"]: s for s in _children(trace, root) if s.service == "coordinator"}
    assert set(ops) >= {"RegisterBranch", "Commit"}
    registers = [s for s in _children(trace, root) if s.attributes.get("rpc.method") == "RegisterBranch"]
    assert sorted(s.attributes["txc.branch_id"] for s in registers) == ["1", "2"]
    deliveries = [s for s in trace if s.service == "coordinator" and s.attributes.get("rpc.method") == "txc.phase2"]
    assert deliveries and all(_ancestor(by_id, s, ops["Commit"]) for s in deliveries)
    confirms = [s for s in trace if s.attributes.get("txc.op") == "confirm"]
    assert sorted(s.service for s in confirms) == ["bank-a", "bank-b"]
    assert all(by_id[s.parent_id].service == s.service or by_id[s.parent_id].service == "coordinator" for s in confirms)
    assert all(_ancestor(by_id, s, ops["Commit"]) for s in confirms)
    # the coordinator kept the trace id with the transaction
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("txc")), "tx", "show", gid, "--coordinator", coordinator],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"trace id: {root.trace_id}" in shown.stdout, shown.stdout + shown.stderr


def _ancestor(by_id: dict[str, ReceivedSpan], span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        if span is ancestor:
            return True
    return False


CLIENT_TRACE, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
COMMENT = f" /*traceparent='00-{CLIENT_TRACE}-{CLIENT_SPAN}-01'*/"


@pytest.fixture
def xa_shards() -> Iterator[list[str]]:
    names = [create_mariadb_database("txc_trace") for _ in range(2)]
    yield names
    for name in names:
        drop_mariadb_database(name)


def _backend_statement_with_comment(shard: str) -> str | None:
    with direct(shard).cursor() as cur:
        cur.execute(
            "SELECT info FROM information_schema.PROCESSLIST WHERE db = %s AND info LIKE %s AND id <> CONNECTION_ID()",
            (shard, "%traceparent=%"),
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


@pytest.mark.slow
def test_a_mysql_client_joins_the_trace_through_dbproxy_down_to_its_backends(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, xa_shards: list[str]
) -> None:
    rig = XaRig(tmp_path, processes, xa_shards)
    rig.seed({0: 100, 1: 100})
    args = ["txc", "coordinator", "--listen", rig.coordinator_address, "--store", rig.store, "--scan-interval", "0.2"]
    processes.append(start_process(args, rig.log_dir, "coordinator", env=otel_env(receiver, "coordinator")))
    processes[-1].wait_serving(rig.coordinator_address)
    port = free_port()
    processes.append(start_proxy(rig.config(port), rig.log_dir, "dbproxy", env=otel_env(receiver, "dbproxy")))

    # a client transaction across both shards, every statement naming the client's span
    conn = connect(port)
    with conn.cursor() as cur:
        for sql in (
            "BEGIN",
            "UPDATE acct SET balance = balance - 7 WHERE id = 0",
            "UPDATE acct SET balance = balance + 7 WHERE id = 1",
            "COMMIT",
        ):
            cur.execute(sql + COMMENT)
    assert rig.balances() == {0: 93, 1: 107}

    # while a backend statement waits for a row lock, the backend shows the comment the proxy sent it
    holder = direct(xa_shards[0])
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT balance FROM acct_0 WHERE id = 0 FOR UPDATE")
    blocked = threading.Thread(
        target=lambda: conn.cursor().execute("UPDATE acct SET balance = balance + 1 WHERE id = 0" + COMMENT)
    )
    blocked.start()
    try:
        seen = wait_until(lambda: _backend_statement_with_comment(xa_shards[0]), 30, "the backend statement")
    finally:
        holder.rollback()
        blocked.join(30)
    conn.close()
    sent = re.search(r"/\*traceparent='00-([0-9a-f]{32})-([0-9a-f]{16})-01'\*/$", seen)
    assert sent is not None, seen
    assert sent.group(1) == CLIENT_TRACE and sent.group(2) != CLIENT_SPAN  # the proxy's span is the parent now

    def proxy_spans() -> list[ReceivedSpan]:
        spans = [s for s in receiver.received() if s.trace_id == CLIENT_TRACE]
        ids = {s.span_id for s in spans}
        proxied = [s for s in spans if s.service == "dbproxy" and s.parent_id == CLIENT_SPAN]
        orphans = [s for s in spans if s.parent_id not in ids and s.parent_id != CLIENT_SPAN]
        return spans if len(proxied) == 5 and not orphans else []

    spans = wait_until(proxy_spans, 30, "the proxy's five statement spans")
    statements = sorted((s.name for s in spans if s.parent_id == CLIENT_SPAN), key=str)
    assert statements == ["BEGIN", "COMMIT", "UPDATE acct", "UPDATE acct", "UPDATE acct"]
    for span in (s for s in spans if s.parent_id == CLIENT_SPAN):
        assert span.service == "dbproxy"
        assert span.attributes["db.system.name"] == "mysql"
        assert span.attributes["db.namespace"] == "app"
        assert span.attributes["db.query.summary"] == span.name
    assert any(s.span_id == sent.group(2) and s.name == "UPDATE acct" for s in spans)
    # the XA commit is decided by a row in one of the backends (docs/xa.md): no coordinator call on its path, the
    # coordinator learns of it from the proxy's batched report, outside the client's trace
    (commit,) = [s for s in spans if s.name == "COMMIT"]
    assert commit.service == "dbproxy"
    # never the query text
    assert not [s for s in spans for v in s.attributes.values() if "balance" in str(v)]


@pytest.mark.slow
def test_a_prepared_statement_execution_is_traced_like_a_text_statement(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, xa_shards: list[str]
) -> None:
    rig = XaRig(tmp_path, processes, xa_shards)
    rig.seed({0: 100, 1: 100})
    args = ["txc", "coordinator", "--listen", rig.coordinator_address, "--store", rig.store]
    processes.append(start_process(args, rig.log_dir, "coordinator", env=otel_env(receiver, "coordinator")))
    processes[-1].wait_serving(rig.coordinator_address)
    port = free_port()
    processes.append(start_proxy(rig.config(port), rig.log_dir, "dbproxy", env=otel_env(receiver, "dbproxy")))

    # the binary protocol, as sysbench and most connectors use it: COM_STMT_PREPARE, then COM_STMT_EXECUTE
    client = RawClient(port)
    try:
        assert error_code(client.login(USER, PASSWORD, LOGICAL_DB)) is None
        prepared = client.command(b"\x16UPDATE acct SET balance = balance - 3 WHERE id = 0" + COMMENT.encode())
        assert prepared[0] == 0, prepared
        stmt_id, columns, params = struct.unpack_from("<IHH", prepared, 1)
        assert (columns, params) == (0, 0)
        for _ in range(2):
            assert error_code(client.command(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1))) is None
    finally:
        client.close()
    assert rig.balances() == {0: 94, 1: 100}

    def executions() -> list[ReceivedSpan]:
        spans = [s for s in receiver.received() if s.trace_id == CLIENT_TRACE and s.parent_id == CLIENT_SPAN]
        return spans if len(spans) == 2 else []

    for span in wait_until(executions, 30, "the proxy's spans of both executions"):
        assert span.service == "dbproxy" and span.name == "UPDATE acct"
        assert span.attributes["db.system.name"] == "mysql"
        assert span.attributes["db.namespace"] == LOGICAL_DB
        assert span.attributes["db.query.summary"] == "UPDATE acct"
        assert not [v for v in span.attributes.values() if "balance" in str(v)]  # never the query text


@pytest.mark.slow
def test_a_saga_is_one_trace_from_its_start_through_every_step(
    tmp_path: Path, processes: list[ChildProcess], receiver: OtlpReceiver, databases: list[str]
) -> None:
    store, trips_db, _unused = databases
    coordinator, log_dir = _traced_coordinator(tmp_path, processes, receiver, store)
    listen = f"127.0.0.1:{free_port()}"
    args = [sys.executable, str(TRIP), "--db", trips_db, "--registry", coordinator, "--listen", listen]
    for service in SERVICES:
        args += ["--service", service]
    processes.append(start_process(args, log_dir, "trips", env=otel_env(receiver, "trips")))
    processes[-1].wait_serving(listen)
    gid = _traced_caller(receiver, coordinator, "saga")

    def whole_tree() -> list[ReceivedSpan]:
        spans = receiver.received()
        steps = [s for s in spans if s.name == "txc.saga.action" and s.attributes.get("txc.gid") == gid]
        if len(steps) != 3:
            return []
        trace = [s for s in spans if s.trace_id == steps[0].trace_id]
        ids = {s.span_id for s in trace}
        roots = [s for s in trace if s.parent_id not in ids]
        served = [s for s in trace if s.service == "trips"]
        return trace if len(roots) == 1 and len(served) >= 3 else []

    trace = wait_until(whole_tree, 30, "the saga's spans from the caller, the coordinator and the participant")
    by_id = {s.span_id: s for s in trace}
    (root,) = [s for s in trace if s.parent_id not in by_id]
    assert root.service == "caller" and root.name == "txcoord.saga.v1.Sagas/StartSaga" and root.parent_id == ""
    steps = [s for s in trace if s.name == "txc.saga.action"]
    assert sorted(s.attributes["txc.step_id"] for s in steps) == ["flight", "hotel", "payment"]
    assert all(s.service == "coordinator" and _ancestor(by_id, s, root) for s in steps)
    for step in steps:  # each step's call is served by the participant, under the step's span
        calls = [s for s in trace if s.service == "trips" and _ancestor(by_id, s, step)]
        assert calls and all(c.attributes.get("txc.gid") == gid for c in calls)
