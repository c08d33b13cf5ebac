"""Planning CREATE/DROP DATABASE: logical databases come from the config, so CREATE of one that exists is a no-op
and DROP empties it (its tables on every backend, as MariaDB's DROP DATABASE would); another name is a database
this user cannot create (1044) or, with IF EXISTS, one it cannot see (a no-op). What tools like mariadb-slap
--create-schema=<logical database> need."""

from __future__ import annotations

from sqlglot.tokens import Token

from dbproxy.errors import NotSupported, ParseError, ProxyError, database_denied
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.plans.catalog import AnswerOk, DropDatabase
from dbproxy.planner.text import NAME_TOKENS, words_of
from dbproxy.router.schema import LogicalSchema


def plan_database_ddl(schema: LogicalSchema, word: str, tokens: list[Token]) -> Plan:
    words = words_of(tokens)
    if word == "ALTER":
        raise NotSupported("ALTER DATABASE through the proxy (logical databases come from the config)")
    guarded = words[2:4] in (["IF", "EXISTS"], ["IF", "NOT"])
    at = 2 + (2 if words[2:4] == ["IF", "EXISTS"] else 3 if guarded else 0)
    names = [t for t in tokens[at:] if t.token_type in NAME_TOKENS]
    if at >= len(tokens) or tokens[at] not in names:
        raise ParseError(f"You have an error in your SQL syntax near '{' '.join(words[:3])}'")
    name = tokens[at].text
    db = schema.get(name)
    if db is None:
        if word == "DROP" and guarded:
            return AnswerOk()
        if word == "DROP":
            raise ProxyError(f"Can't drop database '{name}'; database doesn't exist", code=1008)
        raise database_denied(name)
    if word == "CREATE":
        return AnswerOk(database=db.name, writes=True, command="CREATE", table="*")
    shared = [d.name for d in schema.databases.values() if d is not db and d.default_database == db.default_database]
    if shared:
        raise NotSupported(f"DROP DATABASE {db.name} (its physical database also holds {shared[0]})")
    return DropDatabase(db=db.name, database=db.name, writes=True, command="DROP", table="*")
