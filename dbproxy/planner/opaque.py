"""Planning statements the proxy cannot analyse (sqlglot does not parse them, or only as a command): they go to
the default backend, unless they touch sharded or broadcast tables. Maintenance statements (ANALYZE, CHECK,
OPTIMIZE, REPAIR, CHECKSUM TABLE) answer one row per table, named back to logical names."""

from __future__ import annotations

import dataclasses

from sqlglot.tokens import Token

from dbproxy.errors import NoDatabaseSelected, NotSupported, ParseError
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.plans.route import Route
from dbproxy.executor.plans.system import SystemRead
from dbproxy.router.access import changes_a_sequence, check_opaque_names
from dbproxy.router.schema import LogicalDatabase
from dbproxy.router.targets import Target
from dbproxy.router.tokens import names_in, rewrite

READ_WORDS = {"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH", "VALUES", "CHECK", "CHECKSUM", "HELP"}
MAINTENANCE = {"ANALYZE", "CHECK", "OPTIMIZE", "REPAIR", "CHECKSUM"}


def plan_opaque(
    sql: str, tokens: list[Token], word: str, db: LogicalDatabase | None, nparams: int, parse_error: str | None = None
) -> Plan:
    if db is None:
        if parse_error:
            raise ParseError(f"You have an error in your SQL syntax: {parse_error}")
        raise NoDatabaseSelected()
    check_opaque_names(tokens, db.name)
    names = set(names_in(tokens))
    if names & (set(db.sharded) | db.broadcast):
        raise NotSupported(f"{word} on a sharded or broadcast table")
    targets = (Target(db.default_backend, rewrite(sql, tokens, {}, {db.name.lower()})),)
    writes = word not in READ_WORDS
    command = word
    if not writes and changes_a_sequence(tokens):  # SELECT NEXT VALUE FOR s: MariaDB asks INSERT on s
        writes, command = True, "INSERT"
    if word in MAINTENANCE:
        names_back = maintenance_names(tokens, db)
        return SystemRead(
            nparams=nparams,
            targets=targets,
            names=names_back,
            database=db.name,
            writes=writes,
            command=command,
            table="*",
        )
    return Route(nparams=nparams, targets=targets, database=db.name, writes=writes, command=command, table="*")


def maintenance_names(tokens: list[Token], db: LogicalDatabase) -> dict[bytes, bytes]:
    """ANALYZE/CHECK/OPTIMIZE/REPAIR/CHECKSUM TABLE answer one row per table named ``physical_db.table``: the
    answer is translated back to ``logical_db.table`` (a client never sees a physical name)."""
    physical, logical = db.default_database, db.name
    return {f"{physical}.{n}".encode(): f"{logical}.{n}".encode() for n in names_in(tokens)}


def as_maintenance(plan: Plan, tokens: list[Token], db: LogicalDatabase | None) -> Plan:
    """A parsed maintenance statement's plan, answering with logical names (``plan`` if there is nothing to
    translate: no database, or not a routed statement)."""
    if db is None or type(plan) is not Route:  # a plain routed statement (not DDL, not a broadcast write)
        return plan
    routed = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    return SystemRead(**routed, names=maintenance_names(tokens, db))
