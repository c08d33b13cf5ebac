"""Differential test: generated queries give the same answer through the proxy over 2 and 4 shards as on one
unsharded copy of the same data in MariaDB."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import PASSWORD, USER, direct, proxy_config, start_proxy
from tests.support import ChildProcess, free_port, mariadb_databases

ROWS = 300
QUERIES = int(os.environ.get("TXC_DIFF_QUERIES", "250"))
SCHEMA = "CREATE TABLE dt (id INT PRIMARY KEY, a INT NOT NULL, b INT NULL, c VARCHAR(12) NOT NULL, d DECIMAL(8,2))"


def _data(rng: random.Random) -> list[tuple[Any, ...]]:
    words = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "sloe"]
    rows = []
    for i in range(1, ROWS + 1):
        b = None if rng.random() < 0.2 else rng.randint(-50, 50)
        d = None if rng.random() < 0.1 else Decimal(rng.randint(-10000, 10000)) / 100
        rows.append((i, rng.randint(0, 30), b, f"{rng.choice(words)}{rng.randint(0, 9)}", d))
    return rows


def _queries(rng: random.Random, n: int) -> Iterator[tuple[str, bool]]:
    """(sql, ordered): ordered results compare in order, the others as multisets."""
    filters = [
        lambda: f"id = {rng.randint(1, ROWS)}",
        lambda: f"id IN ({', '.join(str(rng.randint(1, ROWS)) for _ in range(rng.randint(1, 6)))})",
        lambda: (lambda lo: f"id BETWEEN {lo} AND {lo + rng.randint(0, 40)}")(rng.randint(1, ROWS)),
        lambda: f"id > {rng.randint(0, ROWS)}",
        lambda: f"id <= {rng.randint(0, ROWS)} AND a >= {rng.randint(0, 30)}",
        lambda: f"a = {rng.randint(0, 30)}",
        lambda: f"b IS NULL OR b < {rng.randint(-50, 50)}",
        lambda: f"c LIKE '{rng.choice('apfkld')}%'",
        lambda: f"(id = {rng.randint(1, ROWS)} OR id = {rng.randint(1, ROWS)})",
        lambda: f"d > {rng.randint(-100, 100)}",
    ]

    def where() -> str:
        return "" if rng.random() < 0.2 else " WHERE " + rng.choice(filters)()

    for _ in range(n):
        shape = rng.randrange(7)
        if shape == 0:
            yield f"SELECT id, a, b, c, d FROM dt{where()}", False
        elif shape == 1:
            col = rng.choice(["a", "b", "c", "d"])
            desc = rng.choice(["", " DESC"])
            limit = f" LIMIT {rng.randint(1, 20)}" + (f" OFFSET {rng.randint(0, 30)}" if rng.random() < 0.5 else "")
            yield f"SELECT * FROM dt{where()} ORDER BY {col}{desc}, id{desc}{limit}", True
        elif shape == 2:
            aggs = rng.sample(
                [
                    "COUNT(*)",
                    "COUNT(b)",
                    "SUM(a)",
                    "SUM(d)",
                    "MIN(c)",
                    "MAX(d)",
                    "AVG(a)",
                    "AVG(d)",
                    "MIN(b)",
                    "MAX(id)",
                ],
                rng.randint(1, 4),
            )
            yield f"SELECT {', '.join(aggs)} FROM dt{where()}", False
        elif shape == 3:
            key = rng.choice(["a", "c", "b"])
            aggs = rng.sample(["COUNT(*)", "SUM(d)", "AVG(a)", "MAX(id)", "MIN(c)"], rng.randint(1, 3))
            yield f"SELECT {key}, {', '.join(aggs)} FROM dt{where()} GROUP BY {key} ORDER BY {key}", True
        elif shape == 4:
            yield (
                (
                    f"SELECT a % 5 AS bucket, COUNT(*) AS n, SUM(a) FROM dt{where()} GROUP BY bucket "
                    f"ORDER BY n DESC, bucket LIMIT {rng.randint(1, 5)}"
                ),
                True,
            )
        elif shape == 5:
            col = rng.choice(["a", "c"])
            yield f"SELECT DISTINCT {col} FROM dt{where()} ORDER BY {col} LIMIT {rng.randint(1, 15)}", True
        else:
            yield f"SELECT c, id FROM dt{where()} ORDER BY c DESC, id LIMIT {rng.randint(1, 10)}, 5", True


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return Decimal(value).quantize(Decimal("0.0001"))
    return value


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    with mariadb_databases("txc_diff", 5) as dbs:  # 4 backends + the unsharded reference
        proc: ChildProcess | None = None
        try:
            port = free_port()
            backends = {f"ds{i}": dbs[i] for i in range(4)}
            config = proxy_config(port, backends, {})
            config["databases"] = {
                "two": {
                    "default_backend": "ds0",
                    "sharded_tables": {"dt": {"column": "id", "algorithm": "mod", "nodes": ["ds0.dt2_0", "ds1.dt2_1"]}},
                },
                "four": {
                    "default_backend": "ds0",
                    "sharded_tables": {
                        "dt": {"column": "id", "algorithm": "hash", "nodes": [f"ds{i}.dt4_{i}" for i in range(4)]}
                    },
                },
            }
            proc = start_proxy(config, tmp_path_factory.mktemp("diff"))
            rows = _data(random.Random(7))
            for target in ("two", "four"):
                with (
                    pymysql.connect(
                        host="127.0.0.1", port=port, user=USER, password=PASSWORD, database=target, autocommit=True
                    ) as conn,
                    conn.cursor() as cur,
                ):
                    cur.execute(SCHEMA)
                    cur.executemany("INSERT INTO dt (id, a, b, c, d) VALUES (%s, %s, %s, %s, %s)", rows)
            with direct(dbs[4]) as conn, conn.cursor() as cur:
                cur.execute(SCHEMA)
                cur.executemany("INSERT INTO dt (id, a, b, c, d) VALUES (%s, %s, %s, %s, %s)", rows)
            yield port, dbs[4]
        finally:
            if proc is not None:
                proc.kill()


@pytest.mark.parametrize("logical", ["two", "four"])
def test_generated_queries_match_an_unsharded_copy(setup: tuple[int, str], logical: str, tmp_path: Path) -> None:
    port, reference = setup
    rng = random.Random({"two": 5, "four": 11}[logical])
    mismatches = []
    checked = 0
    with (
        direct(reference) as ref,
        pymysql.connect(
            host="127.0.0.1", port=port, user=USER, password=PASSWORD, database=logical, autocommit=True
        ) as prx,
    ):
        for sql, ordered in _queries(rng, QUERIES):
            with ref.cursor() as rc, prx.cursor() as pc:
                rc.execute(sql)
                pc.execute(sql)
                want = [tuple(_norm(v) for v in r) for r in rc.fetchall()]
                got = [tuple(_norm(v) for v in r) for r in pc.fetchall()]
            if not ordered:
                want, got = sorted(want, key=repr), sorted(got, key=repr)
            if want != got:
                mismatches.append(f"{sql}\n  want {want[:5]}\n  got  {got[:5]}")
            checked += 1
    assert checked == QUERIES
    assert not mismatches, f"{len(mismatches)} of {checked} differ:\n" + "\n".join(mismatches[:5])
