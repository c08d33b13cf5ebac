"""SELECT DATABASE(), USER(), LAST_INSERT_ID(), @@autocommit ... alone in a select list: answers that depend on
the client's session, not a backend's, given by the proxy."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from dbproxy.executor.plans.session_info import SessionValue, SessionValues

_FUNCTIONS = {
    "database": SessionValue.DATABASE,
    "schema": SessionValue.DATABASE,
    "last_insert_id": SessionValue.LAST_INSERT_ID,
    "connection_id": SessionValue.CONNECTION_ID,
    "user": SessionValue.USER,
    "session_user": SessionValue.USER,
    "system_user": SessionValue.USER,
    "current_user": SessionValue.CURRENT_USER,
    "autocommit": SessionValue.AUTOCOMMIT,
    "wait_timeout": SessionValue.WAIT_TIMEOUT,
}
# session variables the proxy keeps itself (not the backend connections'): read back from the session
_SESSION_VARS = {"autocommit": "autocommit", "wait_timeout": "wait_timeout", "interactive_timeout": "wait_timeout"}


def select_list_text(sql: str, tokens: list[Token]) -> list[str]:
    """The select list's expressions as written (split at top-level commas), for column names."""
    if not tokens or tokens[0].token_type != TokenType.SELECT:
        return []
    out: list[str] = []
    depth = 0
    start = tokens[1].start if len(tokens) > 1 else len(sql)
    end = start
    for tok in tokens[1:]:
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and tok.token_type in (TokenType.COMMA, TokenType.FROM, TokenType.SEMICOLON):
            out.append(sql[start:end].strip())
            if tok.token_type != TokenType.COMMA:
                return out
            start = tok.end + 1
            continue
        end = tok.end + 1
    out.append(sql[start:end].strip())
    return out


def local_select(ast: exp.Select, written: list[str]) -> SessionValues | None:
    """The proxy's answer to a select list of session values only (None: a backend answers it)."""
    values = []
    names = []
    for p in ast.expressions:
        inner = p.this if isinstance(p, exp.Alias) else p
        fname = ""
        if isinstance(inner, exp.Anonymous):
            fname = inner.name.lower()
        elif isinstance(inner, exp.Func):
            fname = inner.sql_name().lower()
        elif isinstance(inner, exp.SessionParameter) and inner.name.lower() in ("identity", "last_insert_id"):
            fname = "last_insert_id"
        elif isinstance(inner, exp.SessionParameter) and inner.name.lower() in _SESSION_VARS:
            if (inner.args.get("kind") or "session").lower() == "global":
                return None
            fname = _SESSION_VARS[inner.name.lower()]
        if isinstance(inner, exp.CurrentSchema):
            fname = "database"
        value = _FUNCTIONS.get(fname)
        if value is None or (isinstance(inner, exp.Func) and inner.expressions):
            return None
        values.append(value)
        names.append(p.alias if isinstance(p, exp.Alias) else "")
    if not values or ast.args.get("where") or len(written) != len(names):
        return None
    # MySQL names an unaliased column by the expression as the client wrote it (`database()`, not SCHEMA())
    columns = tuple(n or w for n, w in zip(names, written, strict=True))
    return SessionValues(values=tuple(values), columns=columns)
