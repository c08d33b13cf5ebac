"""Statements that leave state in the backend session they run on, which then belongs to one client session.

User variables (``SELECT @v := 1``, ``... INTO @v``), temporary tables, named locks (``GET_LOCK``) and
``LAST_INSERT_ID(expr)`` live in the backend connection, not in the proxy. A connection that ran such a
statement is held by its client session from then on (every later statement of the session on that backend
uses it, so the session sees its own state) and is reset with ``COM_RESET_CONNECTION`` before the pool gives
it to anyone else (``BackendPool.release_reset``). Session variables set with ``SET`` are replayed instead
(``SessionState.variables``, part of the pool key), and prepared statements are the proxy's per session.

The check runs once per distinct statement, when it is planned (``PlanCache`` marks the plan:
``Plan.holds_session``); executing a cached plan costs one attribute read. It reads the whole text, comments
included, so it errs towards holding a connection.
"""

from __future__ import annotations

import re

# `@name` (a user variable) but not `@@name` (a system variable, replayed or read-only here), temporary
# tables, named locks, LAST_INSERT_ID(expr), and CALL (a procedure body may do any of these)
_STATE = r"(?<!@)@(?!@)|\bTEMPORARY\b|\bGET_LOCK\s*\(|\bLAST_INSERT_ID\s*\(\s*[^\s)]|^\s*CALL\b"
_ANYWHERE = re.compile(_STATE, re.IGNORECASE)
# Quoted text is skipped, so 'someone@example.org' holds nothing. Only in a statement without a backslash
# (whether one escapes a quote depends on the session's sql_mode) or a comment (a quote in one opens nothing):
# when unsure, the scan errs towards holding.
_OUTSIDE_QUOTES = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|(?P<state>" + _STATE + ")", re.IGNORECASE)
_COMMENT = re.compile(r"--|#|/\*")


def creates_session_state(sql: str) -> bool:
    """True when ``sql`` may leave state in its backend session that a later statement could see."""
    if "\\" in sql or _COMMENT.search(sql):
        return _ANYWHERE.search(sql) is not None
    return any(match.lastgroup == "state" for match in _OUTSIDE_QUOTES.finditer(sql))
