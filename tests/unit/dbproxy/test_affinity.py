"""Which statements leave state in their backend session (and so keep their connection)."""

from __future__ import annotations

import pytest

from dbproxy.executor.affinity import creates_session_state


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT @v := 'A'",
        "SELECT id INTO @x FROM t LIMIT 1",
        "SET @v = 1",
        "CREATE TEMPORARY TABLE plain (id INT)",
        "create temporary table if not exists x like y",
        "SELECT GET_LOCK('l', 0)",
        "select get_lock ('l', 10)",
        "SELECT LAST_INSERT_ID(42)",
    ],
)
def test_state_creating_statements_are_recognised(sql: str) -> None:
    assert creates_session_state(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c FROM sbtest1 WHERE id = ?",
        "SELECT @@session.sql_mode",
        "UPDATE t SET k = k + 1 WHERE id = ?",
        "SELECT LAST_INSERT_ID()",
        "SELECT RELEASE_LOCK('l')",
    ],
)
def test_ordinary_statements_are_not(sql: str) -> None:
    assert not creates_session_state(sql)
