"""Atomic multi-shard commit: real dbproxy, coordinator and MariaDB processes; crashes are SIGKILLs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pymysql
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.proxy.xa.rig import (
    XaRig,
    connect,
    direct,
    registered_addresses,
    settled,
    transfer,
    txc,
    wait_for,
)
from tests.support import ChildProcess, free_port, start_process

FORWARDER = Path(__file__).parents[1] / "forwarder.py"
pytestmark = pytest.mark.timeout(180)


def test_transfer_across_backends_commits_and_the_coordinator_records_it(rig: XaRig) -> None:
    _, port = rig.start_proxy()
    conn = connect(port)
    assert transfer(conn, 0, 1, 30)
    assert rig.balances() == {0: 70, 1: 130, 2: 100, 3: 100}
    states = wait_for(lambda: rig.transactions() if "COMMITTED" in rig.transactions().values() else None)
    assert list(states.values()) == ["COMMITTED"]
    gid = next(iter(states))
    branches = rig.store_rows("SELECT branch_id, kind, state, payload::text FROM txc_branch WHERE gid = $1", gid)
    assert sorted((b["branch_id"], b["kind"], b["state"]) for b in branches) == [
        ("ds0", "XA", "CONFIRMED"),
        ("ds1", "XA", "CONFIRMED"),
    ]
    # operations: `txc tx list` shows the mode, `txc tx show` the backends and xids
    listed = txc("tx", "list", "--json", "--coordinator", rig.coordinator_address)
    assert listed.returncode == 0, listed.stderr
    (tx,) = json.loads(listed.stdout)["transactions"]
    assert (tx["gid"], tx["mode"], tx["state"]) == (gid, "XA", "COMMITTED")
    shown = txc("tx", "show", gid, "--coordinator", rig.coordinator_address)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert f"backend ds0, xid {gid},{rig.service}/ds0," in text  # ds0 was touched first: it decided
    assert f"backend ds1, xid {gid},{rig.service}/ds1|ds0," in text  # the other branch names its decider
    assert "XA" in shown.stdout
    assert not rig.prepared()
    # the decision row is deleted once the coordinator has recorded the transaction
    wait_for(lambda: not rig.decision_rows(), what="the decision row deleted after the report")


def test_single_backend_transactions_need_no_decision(rig: XaRig) -> None:
    _, port = rig.start_proxy()
    conn = connect(port)
    assert transfer(conn, 0, 2, 5)  # both rows on ds0
    assert transfer(conn, 1, 3, 5)  # both rows on ds1
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT balance FROM acct WHERE id = 1")  # a read on ds1: not a branch that needs prepare
        cur.execute("UPDATE acct SET balance = balance + 1 WHERE id = 0")
        cur.execute("COMMIT")
        cur.execute("UPDATE acct SET balance = balance - 1 WHERE id = 0")  # autocommit
        conn.autocommit(False)
        cur.execute("UPDATE acct SET balance = balance + 1 WHERE id = 3")
        conn.commit()
        cur.execute("UPDATE acct SET balance = balance + 100 WHERE id = 2")
        conn.rollback()
        conn.autocommit(True)
    assert rig.balances() == {0: 95, 1: 95, 2: 105, 3: 106}
    assert rig.transactions() == {} and rig.decision_rows() == []
    assert transfer(conn, 2, 3, 5)  # the first one that spans both backends is the first decided and reported
    assert rig.balances() == {0: 95, 1: 95, 2: 100, 3: 111}
    wait_for(lambda: list(rig.transactions().values()) == ["COMMITTED"], what="the multi-backend one reported")


def test_single_statement_writing_on_two_backends_commits_atomically(rig: XaRig) -> None:
    _, port = rig.start_proxy()
    with connect(port).cursor() as cur:
        assert cur.execute("UPDATE acct SET balance = balance + 1 WHERE id IN (0, 1)") == 2  # autocommit
    assert rig.balances() == {0: 101, 1: 101, 2: 100, 3: 100}
    states = wait_for(lambda: rig.transactions() if "COMMITTED" in rig.transactions().values() else None)
    assert list(states.values()) == ["COMMITTED"]
    assert not rig.prepared()


def test_proxy_registers_and_answers_health(rig: XaRig) -> None:
    proc, _ = rig.start_proxy()
    address = registered_addresses(rig)[0]
    with grpc.insecure_channel(address) as channel:
        check = health_pb2.HealthCheckRequest(service=rig.service)
        reply = health_pb2_grpc.HealthStub(channel).Check(check, timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert proc.terminate() == 0  # SIGTERM: deregisters and exits cleanly
    registered = json.loads(txc("registry", "ls", "--json", "--registry", rig.coordinator_address).stdout or "[]")
    assert not [e for e in registered if e.get("service") == rig.service]


def test_proxy_registers_the_advertised_phase2_address_when_one_is_in_front(rig: XaRig) -> None:
    listen, front = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"  # e.g. a fault link (chaos)
    rig.start_proxy(listen=listen, advertise=front)
    assert registered_addresses(rig) == [front]


def test_two_backends_without_coordinator_refuse_to_start(rig: XaRig, tmp_path: Path) -> None:
    config = rig.config(0)
    del config["transactions"]
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    dbproxy = str(Path(sys.executable).with_name("dbproxy"))
    out = subprocess.run([dbproxy, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "transactions.coordinator" in out.stderr and "best_effort" in out.stderr
    assert "Traceback" not in out.stderr


def test_backend_lost_during_prepare_rolls_everything_back(rig: XaRig, processes: list[ChildProcess]) -> None:
    forward_port = free_port()
    forwarder = start_process(
        [sys.executable, str(FORWARDER), str(forward_port), "127.0.0.1", "3306"],
        rig.log_dir,
        "forwarder",
    )
    processes.append(forwarder)
    forwarder.wait_listening(forward_port)
    backends = {"ds0": rig.shard_dbs[0], "ds1": f"mysql://root:@127.0.0.1:{forward_port}/{rig.shard_dbs[1]}"}
    _, port = rig.start_proxy(backends=backends)
    conn = connect(port)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("UPDATE acct SET balance = balance - 30 WHERE id = 0")
        cur.execute("UPDATE acct SET balance = balance + 30 WHERE id = 1")
        forwarder.kill()  # ds1 is gone: its prepare cannot succeed
        with pytest.raises(pymysql.err.MySQLError) as err:
            cur.execute("COMMIT")
    assert "rolled back" in str(err.value) and "ds1" in str(err.value)
    assert rig.balances() == {0: 100, 1: 100, 2: 100, 3: 100}
    # ds1's branch never prepared (its connection died with the link: the server rolled it back); the coordinator
    # records the attempt as rolled back. Recovery keeps scanning ds1 until it is reachable again.
    processes.append(
        start_process(
            [sys.executable, str(FORWARDER), str(forward_port), "127.0.0.1", "3306"],
            rig.log_dir,
            "forwarder-again",
        )
    )
    wait_for(lambda: settled(rig), what="everything rolled back")
    assert set(rig.transactions().values()) <= {"ROLLED_BACK"}
    assert rig.balances() == {0: 100, 1: 100, 2: 100, 3: 100}


def test_cross_backend_deadlock_is_rolled_back_with_1213(rig: XaRig) -> None:
    """Opposite lock order on two backends: no server sees the cycle. The waiter that holds another backend
    longer than transactions.cross_backend_lock_wait is rolled back as a deadlock; the other commits."""
    _, port = rig.start_proxy(pool={"lock_wait_timeout": 60}, cross_backend_lock_wait=1)
    a, b = connect(port), connect(port)
    ca, cb = a.cursor(), b.cursor()
    ca.execute("BEGIN")
    cb.execute("BEGIN")
    ca.execute("UPDATE acct SET balance = balance - 10 WHERE id = 0")  # A holds a row on ds0
    cb.execute("UPDATE acct SET balance = balance - 20 WHERE id = 1")  # B holds a row on ds1
    outcomes: dict[str, object] = {}

    def second(name: str, cur: pymysql.cursors.Cursor, sql: str) -> None:
        try:
            cur.execute(sql)
            cur.execute("COMMIT")
            outcomes[name] = "committed"
        except pymysql.err.MySQLError as exc:
            outcomes[name] = exc.args[0]

    threads = [
        threading.Thread(target=second, args=("a", ca, "UPDATE acct SET balance = balance + 10 WHERE id = 1")),
        threading.Thread(target=second, args=("b", cb, "UPDATE acct SET balance = balance + 20 WHERE id = 0")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)  # far less than the 60 s lock_wait_timeout
    assert not any(t.is_alive() for t in threads)
    assert 1213 in outcomes.values(), outcomes
    expected = {0: 100, 1: 100, 2: 100, 3: 100}
    if outcomes["a"] == "committed":
        expected.update({0: 90, 1: 110})
    if outcomes["b"] == "committed":
        expected.update({0: 120, 1: 80})
    wait_for(lambda: settled(rig), what="both transactions finished")
    assert rig.balances() == expected


def test_scatter_statement_that_times_out_on_a_lock_gets_1213_and_rolls_back_the_transaction(rig: XaRig) -> None:
    """Like a routed statement: a scatter inside a transaction waits for a lock at most
    transactions.cross_backend_lock_wait, and then the whole transaction is rolled back as a deadlock."""
    _, port = rig.start_proxy(pool={"lock_wait_timeout": 60}, cross_backend_lock_wait=1)
    holder, waiter = connect(port), connect(port)
    with holder.cursor() as hold, waiter.cursor() as cur:
        hold.execute("BEGIN")
        hold.execute("UPDATE acct SET balance = balance - 5 WHERE id = 0")  # holds row 0 on ds0
        cur.execute("BEGIN")
        cur.execute("UPDATE acct SET balance = balance + 50 WHERE id = 3")  # ds1: must be rolled back too
        with pytest.raises(pymysql.err.OperationalError) as err:
            cur.execute("UPDATE acct SET balance = balance + 1 WHERE id IN (0, 1)")  # a scatter over both shards
        assert err.value.args[0] == 1213, err.value
        hold.execute("COMMIT")
        cur.execute("SELECT balance FROM acct WHERE id = 3")  # the session goes on, in a new transaction
        assert cur.fetchone() == (100,)
        cur.execute("COMMIT")
    wait_for(lambda: settled(rig), what="both transactions finished")
    assert rig.balances() == {0: 95, 1: 100, 2: 100, 3: 100}


def test_a_decision_table_missing_at_start_is_created_by_recovery(rig: XaRig) -> None:
    _, port = rig.start_proxy()
    rig.drop_decisions()  # as if the backends were down when the proxy started
    with pytest.raises(pymysql.err.MySQLError) as err:
        transfer(connect(port), 0, 1, 30)
    assert err.value.args[0] == 1180 and "rolled back" in str(err.value)
    assert rig.balances() == {0: 100, 1: 100, 2: 100, 3: 100}
    wait_for(lambda: rig.decision_rows() == [] and _decision_table(rig), what="recovery creating the table")
    assert transfer(connect(port), 0, 1, 30)
    assert rig.balances() == {0: 70, 1: 130, 2: 100, 3: 100}


def _decision_table(rig: XaRig) -> bool:
    with direct(rig.shard_dbs[0]).cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (rig.decision_schema,))
        return bool(cur.fetchone()[0])
