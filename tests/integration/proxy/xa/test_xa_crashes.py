"""The proxy SIGKILLed at each step of a multi-backend commit (``DBPROXY_FAILPOINTS``), with real processes:
money is conserved, nothing stays prepared, every global transaction ends terminal in the coordinator's record,
and that record (``txc tx show``) matches what the backends committed. docs/xa.md walks through each step."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pymysql
import pytest

from tests.integration.proxy.xa.rig import ACCT, XaRig, connect, direct, settled, transfer, txc, wait_for
from tests.support import create_mariadb_database, drop_mariadb_database

pytestmark = pytest.mark.timeout(180)

MOVED = {0: 70, 1: 130, 2: 100, 3: 100}
UNTOUCHED = {0: 100, 1: 100, 2: 100, 3: 100}

# (failpoint, whether the transfer committed). With two backends the decider (ds0, touched first) is never
# prepared and ds1 is the only prepared branch; "between prepares" and "during the commits" need a third backend
# (test_three_backends_killed_between_prepares_or_between_commits below).
CRASH_POINTS = [
    ("xa_before_prepare", False),  # branches open, nothing prepared: the server rolls back with the connection
    ("xa_after_prepare", False),  # ds1 prepared, decision row written but not committed: tombstone, rollback
    ("xa_after_decision", True),  # decision committed with ds0: recovery commits ds1 by the row
    ("xa_before_report", True),  # every branch committed, nothing reported: the sweep reports the row
]


def _record_matches(rig: XaRig, committed: bool, backends: tuple[str, ...] = ("ds0", "ds1")) -> None:
    states = rig.transactions()
    if not states:  # only a transaction that never prepared anything may be unknown to the coordinator
        assert not committed
        return
    (gid, state), *more = states.items()
    assert not more, states
    assert state == ("COMMITTED" if committed else "ROLLED_BACK")
    shown = txc("tx", "show", gid, "--json", "--coordinator", rig.coordinator_address)
    assert shown.returncode == 0, shown.stderr
    branches = {b["branch_id"]: b["state"] for b in json.loads(shown.stdout)["branches"]}
    assert branches == dict.fromkeys(backends, "CONFIRMED" if committed else "CANCELLED")


@pytest.mark.slow
@pytest.mark.parametrize(("failpoint", "committed"), CRASH_POINTS)
def test_proxy_killed_at_a_step_of_the_commit(rig: XaRig, failpoint: str, committed: bool) -> None:
    proc, port = rig.start_proxy(failpoints=failpoint, timeout=2)
    with pytest.raises(pymysql.err.OperationalError):  # the connection dies with the proxy
        transfer(connect(port), 0, 1, 30)
    proc.popen.wait(timeout=30)
    rig.start_proxy(port=port, timeout=2)  # the restarted instance's recovery finishes what is left
    wait_for(lambda: settled(rig), what=f"everything finished after a crash at {failpoint}")
    assert rig.balances() == (MOVED if committed else UNTOUCHED)
    _record_matches(rig, committed)
    assert transfer(connect(port), 0, 1, 10)  # no row lock is left behind


def test_proxy_killed_after_the_decision_another_instance_commits(rig: XaRig) -> None:
    proc, port = rig.start_proxy(failpoints="xa_after_decision", timeout=2)
    rig.start_proxy(timeout=2)  # another instance of the service: its recovery finishes ds1's branch
    with pytest.raises(pymysql.err.OperationalError):
        transfer(connect(port), 0, 1, 30)
    proc.popen.wait(timeout=30)
    wait_for(lambda: settled(rig), what="every branch committed by the other instance")
    assert rig.balances() == MOVED
    _record_matches(rig, committed=True)


@pytest.fixture
def third_shard() -> Iterator[str]:
    name = create_mariadb_database("txc_xa")
    yield name
    drop_mariadb_database(name)


# With three written backends the crash can fall where two are prepared or committed differently: recovery
# decides each prepared branch by the decider's row on its own.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("failpoint", "committed"), [("xa_after_first_prepare", False), ("xa_after_first_commit", True)]
)
def test_three_backends_killed_between_prepares_or_between_commits(
    rig: XaRig, third_shard: str, failpoint: str, committed: bool
) -> None:
    databases = [*rig.shard_dbs, third_shard]
    for i, db in enumerate(databases):
        with direct(db).cursor() as cur:
            cur.execute(f"CREATE TABLE note_{i} (id INT PRIMARY KEY) ENGINE=InnoDB")
    backends = {f"ds{i}": db for i, db in enumerate(databases)}
    note = {"column": "id", "algorithm": "mod", "nodes": [f"ds{i}.note_{i}" for i in range(3)]}
    proxy = {"backends": backends, "sharded": {**ACCT, "note": note}, "timeout": 2}
    proc, port = rig.start_proxy(failpoints=failpoint, **proxy)
    with pytest.raises(pymysql.err.OperationalError), connect(port).cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("INSERT INTO note (id) VALUES (0), (1), (2)")  # one row on each backend
        cur.execute("COMMIT")
    proc.popen.wait(timeout=30)
    rig.start_proxy(port=port, **proxy)
    wait_for(lambda: settled(rig), what=f"three branches finished after a crash at {failpoint}")
    counts = []
    for i, db in enumerate(databases):
        with direct(db).cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM note_{i}")
            counts.append(cur.fetchone()[0])
    assert counts == ([1, 1, 1] if committed else [0, 0, 0])
    _record_matches(rig, committed, ("ds0", "ds1", "ds2"))
