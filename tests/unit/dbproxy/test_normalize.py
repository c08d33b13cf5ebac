"""Lifting literals out of text statements so they share one cached plan."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dbproxy.router.normalize import normalize


@pytest.mark.parametrize(
    ("sql", "shape", "values"),
    [
        ("SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id=?", [5]),
        ("SELECT c FROM t WHERE id = -5", "SELECT c FROM t WHERE id = ?", [-5]),
        ("UPDATE t SET k=k-1 WHERE id IN (1, 2)", "UPDATE t SET k=k-? WHERE id IN (?, ?)", [1, 1, 2]),
        ("INSERT INTO t (id, c) VALUES (1, 'it\\'s')", "INSERT INTO t (id, c) VALUES (?, ?)", [1, b"it's"]),
        (
            "SELECT 1, c FROM t WHERE d > 2.50 ORDER BY 1 LIMIT 10",
            "SELECT 1, c FROM t WHERE d > ? ORDER BY 1 LIMIT ?",
            [Decimal("2.50"), 10],
        ),
        (
            "SELECT a, COUNT(*) FROM t WHERE a > 0 GROUP BY 1 HAVING COUNT(*) > 3",
            "SELECT a, COUNT(*) FROM t WHERE a > ? GROUP BY 1 HAVING COUNT(*) > ?",
            [0, 3],
        ),
        (
            "SELECT * FROM t WHERE d = DATE '2020-01-01' AND e = 1",
            "SELECT * FROM t WHERE d = DATE '2020-01-01' AND e = ?",
            [1],
        ),
    ],
)
def test_literals_become_parameters(sql: str, shape: str, values: list[object]) -> None:
    assert normalize(sql) == (shape, values)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t",
        "BEGIN",
        "SET autocommit = 0",
        "SELECT CAST(a AS DECIMAL(10, 2)) FROM t WHERE id = 1",
        "SELECT * FROM information_schema.tables WHERE table_schema = 'app'",
        "SELECT c FROM t WHERE id = ?",
    ],
)
def test_statements_whose_shape_depends_on_literals_are_left_alone(sql: str) -> None:
    assert normalize(sql) is None
