"""Turning one statement into a plan: read and check its text, then plan it by its first word. Runs once per
distinct statement text (the plan cache holds the result)."""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError
from sqlglot.tokens import Token

from dbproxy.errors import NotSupported
from dbproxy.executor.plans.base import Plan, Routed
from dbproxy.executor.plans.catalog import AnswerOk, ForwardAny
from dbproxy.executor.plans.route import Route
from dbproxy.executor.plans.settings import Use
from dbproxy.executor.plans.transaction import Commit, Rollback
from dbproxy.planner.databases import plan_database_ddl
from dbproxy.planner.opaque import plan_opaque
from dbproxy.planner.parsed import plan_parsed
from dbproxy.planner.session import plan_begin, plan_kill, plan_set, plan_set_statement
from dbproxy.planner.show import plan_show
from dbproxy.planner.text import check_depth, check_one_statement, first_word, parse, tokens_of
from dbproxy.router.access import check_words
from dbproxy.router.dialects import DEFAULT_READING, Reading
from dbproxy.router.reading import read_text, verify_tokens
from dbproxy.router.render import keep_written_literals
from dbproxy.router.schema import LogicalSchema
from dbproxy.router.session_functions import RESERVED_PREFIX, substitute, with_slots
from dbproxy.router.targets import Target
from dbproxy.router.tokens import mark_params, param_indexes

_OPAQUE_WORDS = ("LOCK", "UNLOCK", "HANDLER", "LOAD", "CALL", "REPLACE", "RENAME", "GRANT", "REVOKE")


class Planner:
    def __init__(self, schema: LogicalSchema, max_depth: int = 100) -> None:
        self.schema = schema
        self.max_depth = max_depth  # parentheses nesting a statement may have (the parser recurses per level)

    def plan(self, sql: str, db_name: str | None, reading: Reading = DEFAULT_READING) -> Plan:
        """The plan of ``sql`` as MariaDB reads it in a session with ``reading``: executable comments are
        expanded into the text that is checked and sent (``router/reading.py``)."""
        if RESERVED_PREFIX in sql.lower():
            # the proxy's own slot names: text holding one could turn into something no check saw when rendered
            raise NotSupported(f"names beginning with {RESERVED_PREFIX} (reserved by dbproxy)")
        return self._plan_text(sql, db_name, reading, session_functions=True)

    def _plan_text(self, sql: str, db_name: str | None, reading: Reading, session_functions: bool = False) -> Plan:
        read = read_text(sql, reading)
        sql = read.text
        word = first_word(sql)
        tokens = tokens_of(sql, reading)
        verify_tokens(read, tokens)
        check_depth(tokens, self.max_depth)
        check_words(word, tokens)
        if word != "BEGIN":  # BEGIN NOT ATOMIC ... END: a compound statement, refused below with its name
            check_one_statement(tokens)
        try:
            plan = self._plan(sql, word, tokens, db_name, reading)
        except RecursionError:
            raise NotSupported(f"a statement this deeply nested (more than {self.max_depth} levels)") from None
        if session_functions and isinstance(plan, Route | ForwardAny):
            db = self.schema.get(db_name)
            substituted = substitute(sql, tokens, db.name if db is not None else None)
            if substituted is not None:
                plan = self._plan_text(substituted, db_name, reading)
                if isinstance(plan, Routed):
                    targets = tuple(
                        Target(t.backend, with_slots(t.template), t.merge_template and with_slots(t.merge_template))
                        for t in plan.targets
                    )
                    plan = dataclasses.replace(plan, targets=targets)
        return plan

    def _plan(self, sql: str, word: str, tokens: list[Token], db_name: str | None, reading: Reading) -> Plan:
        db = self.schema.get(db_name)
        nparams = len(param_indexes(tokens))
        words = [t.text.upper() for t in tokens[:4]]
        if word in ("BEGIN", "START"):
            return plan_begin(sql, word, tokens)
        if word == "KILL":
            return plan_kill(tokens)
        if word == "UNLOCK":
            return AnswerOk()  # LOCK TABLES is refused: nothing is ever locked
        if word == "COMMIT":
            return Commit()
        if word == "ROLLBACK":
            if "TO" in words:
                raise NotSupported("ROLLBACK TO SAVEPOINT")
            return Rollback()
        if word in ("SAVEPOINT", "RELEASE"):
            raise NotSupported("SAVEPOINT")
        if word == "XA":
            raise NotSupported("XA statements from clients (the proxy owns distributed commit)")
        if word == "USE":
            return Use(db=tokens[1].text if len(tokens) > 1 else "")
        if word == "SET":
            if words[1:2] == ["STATEMENT"]:
                return plan_set_statement(sql, tokens, db_name, reading, self._plan_text)
            return plan_set(sql, tokens, nparams, reading)
        if word in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return plan_show(self.schema, self._plan_text, sql, tokens, words, db, nparams, reading)
        if word in ("CREATE", "DROP", "ALTER") and len(words) > 1 and words[1] in ("DATABASE", "SCHEMA"):
            return plan_database_ddl(self.schema, word, tokens)
        if word in _OPAQUE_WORDS:
            return plan_opaque(sql, tokens, word, db, nparams)

        marked, _ = mark_params(sql, tokens)
        try:
            ast: exp.Expr = parse(marked, reading)
            keep_written_literals(ast, marked)
        except (SqlglotParseError, TokenError) as exc:
            # TokenError: text sqlglot's tokenizer rejects but the server may accept (NO_BACKSLASH_ESCAPES)
            return plan_opaque(sql, tokens, word, db, nparams, parse_error=str(exc).splitlines()[0])
        if isinstance(ast, exp.Command):
            return plan_opaque(sql, tokens, word, db, nparams)
        return plan_parsed(self.schema, sql, tokens, ast, db, nparams, reading)
