"""The CLI of a new user's first hour (issue 23, point 5), through a real coordinator and participants."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomysql

from sdk import MySqlBarrier
from tests.integration.coordinator.cluster import TXC, Cluster
from tests.integration.coordinator.sagas import LINEAR, trip
from tests.support.databases import MARIADB_HOST, MARIADB_PORT

NewDb = Callable[..., Awaitable[str]]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "participant.py"


def txc(*args: str, coordinator: str = "", columns: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TXC_")}
    if coordinator:
        env["TXC_COORDINATOR"] = coordinator  # the one variable: no -c on any command
    if columns:
        env["COLUMNS"] = str(columns)
    return subprocess.run([TXC, *args], capture_output=True, text=True, timeout=60, env=env)


async def test_txc_call_of_a_tcc_try_without_gid_says_at_once_what_to_pass(cluster: Cluster, new_db: NewDb) -> None:
    _, address = cluster.coordinator()
    await cluster.serve_example_participant(EXAMPLE, await new_db(), address, "bank")
    tried = txc("call", "bank", "debit", "--json", '{"account": "A", "amount": 1}', coordinator=address)
    assert tried.returncode == 2, tried
    assert tried.stderr.startswith("txc: bank.debit is a TCC try: it runs as a branch of a live global transaction")
    assert "pass --gid GID" in tried.stderr
    phase = txc("call", "bank", "debit.confirm", "--json", '{"account": "A"}', coordinator=address)
    assert phase.returncode == 2 and phase.stderr.count("bank.debit.confirm: gid") == 1, phase.stderr
    assert "pass --gid GID" in phase.stderr
    nobody = txc("call", "bnak", "debit", coordinator=address)
    assert nobody.returncode == 2 and "no live endpoint of service 'bnak'" in nobody.stderr, nobody


async def test_saga_run_wait_fails_unless_succeeded_and_tx_commands_point_to_the_saga(
    cluster: Cluster, new_db: NewDb, tmp_path: Path
) -> None:
    _, address = cluster.coordinator()
    trip(cluster, await new_db(), "--card-limit", "100")
    (tmp_path / "linear.yaml").write_text(LINEAR)
    assert txc("saga", "register", str(tmp_path / "linear.yaml"), coordinator=address).returncode == 0
    ok = txc("saga", "run", "linear", "--input", '{"user": "ann", "amount": 50}', "--wait", coordinator=address)
    assert ok.returncode == 0 and " SUCCEEDED" in ok.stdout, ok
    undone = txc(
        "saga", "run", "linear", "-i", '{"user": "bob", "amount": 500}', "--wait", "--json", coordinator=address
    )
    assert undone.returncode == 1, undone
    gid = json.loads(undone.stdout)["gid"]
    assert json.loads(undone.stdout)["state"] == "COMPENSATED"
    shown = txc("tx", "show", gid, coordinator=address)
    assert shown.returncode == 0 and f"its steps and timeline: `txc saga show {gid}`" in shown.stdout, shown
    retried = txc("tx", "retry", gid, coordinator=address)
    assert retried.returncode == 2 and f"is a saga (COMPENSATED): use `txc saga retry {gid}`" in retried.stderr, retried
    listed = txc("tx", "list", coordinator=address, columns=80)
    assert gid in listed.stdout, listed.stdout  # whole, on an 80-column terminal


async def test_mysql_barrier_install_is_quiet_when_the_table_exists(mariadb_database: str) -> None:
    pool = await aiomysql.create_pool(
        host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", db=mariadb_database, maxsize=2
    )
    try:
        barrier = MySqlBarrier(pool)
        async with pool.acquire() as conn, conn.cursor() as cur:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await cur.execute("DROP TABLE IF EXISTS txc_barrier")
            await conn.commit()
        assert await barrier.has_table("txc_barrier") is False
        await barrier.install()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            await barrier.install()  # a restart
            await barrier.check()
        assert [str(w.message) for w in seen] == []
        assert await barrier.has_table("txc_barrier") is True
    finally:
        pool.close()
        await pool.wait_closed()
