"""Planning transaction and session statements: BEGIN / START TRANSACTION, SET (what the proxy keeps and what
the backends keep), SET STATEMENT ... FOR, and KILL."""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported, ParseError, privilege_needed
from dbproxy.executor.plans.base import Plan, Routed
from dbproxy.executor.plans.insert import Insert
from dbproxy.executor.plans.session_info import Kill
from dbproxy.executor.plans.settings import SetVariables
from dbproxy.executor.plans.transaction import Begin
from dbproxy.planner.text import Replan, check_regenerable, first_word, parse, words_of
from dbproxy.router.access import check_set
from dbproxy.router.dialects import Reading, dialect_for
from dbproxy.router.targets import Target
from dbproxy.router.template import Template
from dbproxy.router.tokens import tokenize

_START_OPTIONS = {"READ", "ONLY", "WRITE", "WITH", "CONSISTENT", "SNAPSHOT", ","}


def plan_begin(sql: str, word: str, tokens: list[Token]) -> Begin:
    """Only a transaction start: BEGIN NOT ATOMIC ... END is a compound statement, never sent as a BEGIN."""
    body = words_of(tokens)
    if word == "BEGIN" and body[1:] not in ([], ["WORK"]):
        raise NotSupported(f"{' '.join(body[:3])} (only BEGIN [WORK] starts a transaction here)")
    if word == "START" and (body[1:2] != ["TRANSACTION"] or set(body[2:]) - _START_OPTIONS):
        raise NotSupported(
            f"{' '.join(body[:3])} (only START TRANSACTION [READ ONLY|READ WRITE|WITH CONSISTENT SNAPSHOT])"
        )
    return Begin(sql=sql)


def plan_kill(tokens: list[Token]) -> Kill:
    """KILL [CONNECTION|QUERY] id: the id is one of the proxy's own connection ids (never a backend thread)."""
    words = words_of(tokens)
    query = len(words) > 1 and words[1] == "QUERY"
    rest = words[2:] if len(words) > 1 and words[1] in ("QUERY", "CONNECTION") else words[1:]
    if rest[:1] in (["USER"], ["ID"]) or len(rest) != 1 or not rest[0].isdigit():
        raise privilege_needed("CONNECTION ADMIN", "KILL " + " ".join(words[1:]))
    return Kill(target=int(rest[0]), query_only=query)


def plan_set(sql: str, tokens: list[Token], nparams: int, reading: Reading) -> SetVariables:
    check_set(tokens)
    check_regenerable(tokenize(sql, reading), reading)
    dialect = dialect_for(reading)
    try:
        ast = parse(sql, reading)
    except SqlglotParseError:
        return SetVariables(nparams=nparams, rest=sql)
    autocommit: bool | None = None
    charset: str | None = None
    wait_timeout: int | None = None
    rest: list[str] = []
    for item in ast.expressions if isinstance(ast, exp.Set) else []:
        kind = (item.args.get("kind") or "").upper() if isinstance(item.args.get("kind"), str) else ""
        inner = item.this
        if kind in ("NAMES", "CHARACTER SET", "CHARSET"):
            charset = inner.name if isinstance(inner, exp.Expression) else str(inner)
            continue
        if isinstance(inner, exp.EQ):
            target = inner.this
            name = target.sql(dialect=dialect).lower().replace("@@session.", "").replace("@@", "")
            if name in ("wait_timeout", "interactive_timeout"):
                # enforced by the proxy towards the client; backend connections keep their own
                value = inner.expression.sql(dialect=dialect).strip("'\"")
                if not value.isdigit() or int(value) < 1:
                    raise ParseError(f"Incorrect argument type to variable '{name}'", code=1232)
                wait_timeout = int(value)
                continue
            if name == "autocommit":
                value = inner.expression.sql(dialect=dialect).strip("'\"").upper()
                autocommit = value in ("1", "ON", "TRUE")
                continue
        rest.append(item.sql(dialect=dialect))
    if not isinstance(ast, exp.Set):
        rest_sql: str | None = sql
    else:
        rest_sql = "SET " + ", ".join(rest) if rest else None
    return SetVariables(
        nparams=nparams, autocommit=autocommit, charset=charset, wait_timeout=wait_timeout, rest=rest_sql
    )


def plan_set_statement(sql: str, tokens: list[Token], db_name: str | None, reading: Reading, replan: Replan) -> Plan:
    """SET STATEMENT var=value[, ...] FOR <statement>: the statement planned as usual, each per-node
    statement sent with the same prefix (the variables hold for that one statement on every node)."""
    fors = [j for j, t in enumerate(tokens) if t.token_type == TokenType.FOR]
    if not fors or fors[0] + 1 >= len(tokens):
        raise ParseError("You have an error in your SQL syntax: SET STATEMENT needs FOR <statement>")
    cut = fors[0]
    check_set(tokens[:cut])
    prefix = sql[: tokens[cut].end + 1] + " "
    inner = replan(sql[tokens[cut + 1].start :], db_name, reading)
    if not isinstance(inner, Routed):
        raise NotSupported(f"SET STATEMENT ... FOR {first_word(sql[tokens[cut + 1].start :])}")

    def wrap(t: Template) -> Template:
        return Template((prefix + t.parts[0], *t.parts[1:]), t.slots)

    targets = tuple(
        Target(t.backend, wrap(t.template), t.merge_template and wrap(t.merge_template)) for t in inner.targets
    )
    if isinstance(inner, Insert):
        return dataclasses.replace(inner, targets=targets, prefixes=tuple(wrap(t) for t in inner.prefixes))
    return dataclasses.replace(inner, targets=targets)
