"""Splitting a multi-statement text (CLIENT_MULTI_STATEMENTS) at its top-level semicolons, on tokens: a
semicolon inside a string, a quoted name or a comment does not split."""

from __future__ import annotations

from sqlglot.tokens import TokenType

from dbproxy.errors import ParseError
from dbproxy.router.tokens import tokenize


def split_statements(sql: str) -> list[str]:
    try:
        tokens = tokenize(sql)
    except Exception as exc:
        raise ParseError(f"You have an error in your SQL syntax: {exc}") from None
    parts: list[str] = []
    start = 0
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            text = sql[start : tok.start].strip()
            if text:
                parts.append(text)
            start = tok.end + 1
    rest = sql[start:].strip()
    if rest:
        parts.append(rest)
    return parts or [sql]
