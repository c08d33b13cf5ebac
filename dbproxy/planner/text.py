"""Reading a statement before planning it: its first word, tokens and parse tree, and the checks on its text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported, ParseError
from dbproxy.executor.plans.base import Plan
from dbproxy.router.dialects import Reading, dialect_for
from dbproxy.router.programs import defines_program
from dbproxy.router.tokens import tokenize

logging.getLogger("sqlglot").setLevel(logging.ERROR)

SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}
# plans a statement held inside another (EXPLAIN ..., SET STATEMENT ... FOR ...) for a database and reading
Replan = Callable[[str, str | None, Reading], Plan]
_FIRST_WORD = re.compile(r"^(?:\s|/\*.*?\*/|#[^\n]*\n|--[^\n]*\n)*([A-Za-z]+)", re.S)


def first_word(sql: str) -> str:
    m = _FIRST_WORD.match(sql)
    return m.group(1).upper() if m else ""


def words_of(tokens: list[Token]) -> list[str]:
    """The statement's tokens as upper-case words, without its closing semicolon."""
    return [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]


def tokens_of(sql: str, reading: Reading) -> list[Token]:
    try:
        return tokenize(sql, reading)
    except Exception as exc:
        raise ParseError(f"You have an error in your SQL syntax: {exc}") from None


def parse(sql: str, reading: Reading) -> exp.Expr:
    """One statement parsed by the dialect of the session's reading."""
    dialect = dialect_for(reading)
    ast = dialect.parser().parse(tokenize(sql, reading), sql)[0]
    if ast is None:
        raise SqlglotParseError("empty statement")
    return ast


def check_one_statement(tokens: list[Token]) -> None:
    """A statement is planned alone: a semicolon before its end (a text split under another reading, or sent
    without CLIENT_MULTI_STATEMENTS) is refused, except inside a stored program's compound body."""
    for tok in tokens[:-1]:
        if tok.token_type == TokenType.SEMICOLON:
            if defines_program([t.text.upper() for t in tokens[:8] if t.token_type != TokenType.STRING]):
                return
            raise ParseError(f"You have an error in your SQL syntax: several statements in one (offset {tok.start})")


def check_depth(tokens: list[Token], limit: int) -> None:
    depth = 0
    for tok in tokens:
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
            if depth > limit:
                raise NotSupported(f"a statement nested more than {limit} levels deep")
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1


def check_regenerable(tokens: list[Token], reading: Reading) -> None:
    """sqlglot cannot parse ``||`` as concatenation: a statement the proxy prints from its tree would turn
    PIPES_AS_CONCAT's concatenation into OR."""
    if reading.pipes_as_concat and any(t.token_type == TokenType.DPIPE for t in tokens):
        raise NotSupported("|| under sql_mode PIPES_AS_CONCAT in a statement dbproxy rewrites (use CONCAT())")
