"""Splitting a multi-statement text (CLIENT_MULTI_STATEMENTS) at its top-level semicolons, on tokens: a
semicolon inside a string, a quoted name or a comment does not split. The text is read as MariaDB reads it
under the session's sql_mode (``router/reading.py``): executable comments are expanded first, so a semicolon
inside ``/*! ... */`` splits exactly where MariaDB's would."""

from __future__ import annotations

from sqlglot.tokens import TokenType

from dbproxy.errors import ParseError
from dbproxy.router.dialects import DEFAULT_READING, Reading
from dbproxy.router.reading import read_text, verify_tokens
from dbproxy.router.tokens import tokenize


def split_statements(sql: str, reading: Reading = DEFAULT_READING) -> list[str]:
    read = read_text(sql, reading)
    sql = read.text
    try:
        tokens = tokenize(sql, reading)
    except Exception as exc:
        raise ParseError(f"You have an error in your SQL syntax: {exc}") from None
    verify_tokens(read, tokens)
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
