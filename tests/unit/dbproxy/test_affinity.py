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
        "CALL fill_scratch()",
        # under NO_BACKSLASH_ESCAPES the backslash ends the string and @v is a variable: still recognised
        "SELECT 'x\\' , @v := 1 , '' AS a",
        "SELECT 1 -- it's\n, @v := 1, 'x'",  # a quote in a comment opens no string
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
        "INSERT INTO users (email) VALUES ('someone@example.org')",
        'SELECT * FROM t WHERE note = "temporary @ home"',
        "SELECT `weird@name` FROM t",
        "SELECT `call` FROM t",
    ],
)
def test_ordinary_statements_are_not(sql: str) -> None:
    assert not creates_session_state(sql)
