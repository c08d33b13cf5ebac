"""Literal normalization for text-protocol statements: ``... WHERE id = 42`` becomes ``... WHERE id = ?`` with
parameter 42, so clients that interpolate values (pymysql, SQLAlchemy, sysbench --db-ps-mode=disable) reuse one
cached plan instead of parsing every statement.

Only literals whose value cannot change the statement's shape are lifted: those after WHERE / VALUES / SET /
HAVING / LIMIT, never ORDER BY / GROUP BY positions, typed or introduced literals, or anything in a statement
with CAST / CONVERT (type arguments) or touching information_schema (its filters are rewritten as text).
"""

from __future__ import annotations

from decimal import Decimal

from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from dbproxy.protocol.params import ParamValue
from dbproxy.router.tokens import tokenize

_DML = {TokenType.SELECT, TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE}
_START = {TokenType.WHERE, TokenType.VALUES, TokenType.SET, TokenType.HAVING, TokenType.LIMIT}
_END_ORDER = {
    TokenType.LIMIT,
    TokenType.HAVING,
    TokenType.WHERE,
    TokenType.FROM,
    TokenType.UNION,
    TokenType.FOR,
    TokenType.R_PAREN,
    TokenType.SEMICOLON,
}
_TYPED_PREFIX = {TokenType.DATE, TokenType.TIME, TokenType.TIMESTAMP, TokenType.DATETIME, TokenType.BINARY}
_OPERAND_END = {
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.VAR,
    TokenType.IDENTIFIER,
    TokenType.R_PAREN,
    TokenType.PLACEHOLDER,
    TokenType.NULL,
}
_SHAPE_WORDS = {"CAST", "CONVERT", "INFORMATION_SCHEMA", "PERFORMANCE_SCHEMA", "MYSQL", "SYS"}


def _number(text: str) -> int | Decimal | None:
    try:
        return int(text)
    except ValueError:
        try:
            return Decimal(text)
        except ArithmeticError:
            return None


def normalize(sql: str) -> tuple[str, list[ParamValue]] | None:
    """The statement with lifted literals as ``?`` and their values; None when nothing can be lifted."""
    try:
        tokens = tokenize(sql)
    except TokenError:
        return None
    if not tokens or tokens[0].token_type not in _DML:
        return None
    out: list[str] = []
    values: list[ParamValue] = []
    pos = 0
    started = False
    in_order = False
    prev = None
    for i, tok in enumerate(tokens):
        tt = tok.token_type
        if tt == TokenType.PLACEHOLDER or tok.text.upper() in _SHAPE_WORDS:
            return None
        if tt in _START:
            started = True
        if tt in (TokenType.ORDER_BY, TokenType.GROUP_BY):
            in_order = True
        elif tt in _END_ORDER:
            in_order = False
        lift = started and not in_order and tt in (TokenType.NUMBER, TokenType.STRING)
        if lift and prev is not None and (prev.token_type in _TYPED_PREFIX or prev.text.startswith("_")):
            lift = False
        if lift:
            value: ParamValue = (
                tok.text.encode("utf-8", "surrogateescape") if tt == TokenType.STRING else _number(tok.text)
            )
            if tt == TokenType.NUMBER and value is None:
                lift = False
            else:
                start = tok.start
                if (
                    tt == TokenType.NUMBER
                    and prev is not None
                    and prev.token_type == TokenType.DASH
                    and (i < 2 or tokens[i - 2].token_type not in _OPERAND_END)
                ):
                    # a unary minus belongs to the literal: "id = -5" must stay a key, not an expression
                    start = prev.start
                    value = -value  # type: ignore[operator]
                out.append(sql[pos:start])
                out.append("?")
                pos = tok.end + 1
                values.append(value)
        prev = tokens[i]
    if not values:
        return None
    out.append(sql[pos:])
    return "".join(out), values
