"""Planning SHOW, DESCRIBE and EXPLAIN: administration and other databases refused, answers about sessions and
grants given by the proxy, answers about tables asked of the table's first node and translated to logical
names, EXPLAIN routed like the statement it explains."""

from __future__ import annotations

from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NoDatabaseSelected, NotSupported, database_denied, privilege_needed
from dbproxy.executor.plans.base import Plan, Routed
from dbproxy.executor.plans.catalog import ForwardAny, ShowDatabases, ShowTables
from dbproxy.executor.plans.explain import Explain
from dbproxy.executor.plans.route import Route
from dbproxy.executor.plans.session_info import Processlist, ShowGrants
from dbproxy.executor.plans.system import SystemRead
from dbproxy.planner.text import NAME_TOKENS, Replan, words_of
from dbproxy.router.access import check_qualifier, qualifiers
from dbproxy.router.dialects import Reading
from dbproxy.router.schema import LogicalDatabase, LogicalSchema
from dbproxy.router.targets import Target
from dbproxy.router.template import Template
from dbproxy.router.tokens import names_in, quote, rewrite, tokenize

# SHOW forms a user may run (the word after SHOW, FULL/GLOBAL/SESSION skipped); the rest is administration
_SHOW_ALLOWED = {
    "DATABASES", "SCHEMAS", "TABLES", "COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS", "CREATE", "TABLE",
    "VARIABLES", "STATUS", "WARNINGS", "ERRORS", "COUNT", "COLLATION", "CHARACTER", "CHARSET", "ENGINES",
    "PROCESSLIST", "GRANTS", "TRIGGERS", "OPEN", "PRIVILEGES", "PROFILES", "PROFILE", "PLUGINS",
}  # fmt: skip
_SHOW_DB_FIRST = {"TABLES", "TABLE", "TRIGGERS", "OPEN"}  # SHOW TABLES FROM db: the first FROM names a database
_SHOW_DB_SECOND = {"COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"}  # SHOW COLUMNS FROM t FROM db


def plan_show(
    schema: LogicalSchema,
    replan: Replan,
    sql: str,
    tokens: list[Token],
    words: list[str],
    db: LogicalDatabase | None,
    nparams: int,
    reading: Reading,
) -> Plan:
    rest = words[1:]
    explained = _explained_statement(words_of(tokens[:5]))  # ``words`` holds only the first four
    if words[0] == "SHOW":
        local = _check_show(schema, tokens, db)
        if local is not None:
            return local
    elif explained is None:  # DESCRIBE/EXPLAIN t: a qualifier must be the session's logical database
        for _, name in qualifiers(tokens):
            check_qualifier(name, db.name if db else None)
    if rest[:1] in (["DATABASES"], ["SCHEMAS"]):
        return ShowDatabases()
    if rest[:1] == ["TABLES"] or rest[:2] == ["FULL", "TABLES"]:
        return ShowTables(full=rest[0] == "FULL")
    if db is None:
        if words[0] == "SHOW":
            return ForwardAny(sql=sql)
        raise NoDatabaseSelected()
    if explained is not None:  # the statement is planned, and checked, as if it were run
        return _plan_explain(replan, sql, tokens, explained, db, nparams, reading)
    # DESCRIBE t, SHOW COLUMNS FROM t, SHOW CREATE TABLE t, SHOW INDEX FROM t ...: ask the table's first node
    # (answers name physical tables: they are translated back to logical names); each is checked against the
    # grant of the session's database
    names = names_in(tokens)
    for name in names:
        info = db.sharded.get(name)
        if info is not None:
            node = info.config.nodes[0]
            on_node = {name: node.table}
            logical = {node.table.encode(): info.name.encode()}
            if db.name.lower() in names:  # SHOW COLUMNS FROM t FROM app: the node's physical database
                physical = schema.backend_databases[node.backend]
                on_node[db.name.lower()] = physical
                logical[physical.encode()] = db.name.encode()
            template = rewrite(sql, tokens, on_node, {db.name.lower()})
            target = Target(node.backend, template)
            return SystemRead(nparams=nparams, targets=(target,), is_read=True, names=logical, database=db.name)
    if words[1:3] == ["OPEN", "TABLES"] and not any(t.token_type in (TokenType.FROM, TokenType.IN) for t in tokens):
        # without FROM the server lists every database's open tables: only the logical database's are shown
        cut = tokens[2].end + 1
        sql = f"{sql[:cut]} FROM {quote(db.name)}{sql[cut:]}"
        tokens = tokenize(sql, reading)
        names = names_in(tokens)
    renames: dict[str, str] = {}
    if db.name.lower() in names:
        renames = {db.name.lower(): db.default_database}  # SHOW TABLE STATUS FROM app: its physical database
    # SHOW TABLE STATUS LIKE 'orders': the pattern names the shard on the default backend
    strings = {q.decode(): p.decode() for p, q in db.logical_names().items() if q.decode() != db.name}
    template = rewrite(sql, tokens, renames, {db.name.lower()}, strings=strings)
    target = Target(db.default_backend, template)
    return SystemRead(nparams=nparams, targets=(target,), is_read=True, names=db.logical_names(), database=db.name)


def _explained_statement(words: list[str]) -> int | None:
    """Where the statement an EXPLAIN/DESCRIBE explains starts (EXPLAIN [EXTENDED | PARTITIONS | FORMAT = x]
    SELECT/UPDATE/DELETE/INSERT ...), or None when it explains a table."""
    if words[0] not in ("EXPLAIN", "DESCRIBE", "DESC"):
        return None
    i = 1
    if words[i : i + 1] in (["EXTENDED"], ["PARTITIONS"]):
        i += 1
    elif words[i : i + 2] == ["FORMAT", "="]:
        i += 3
    return i if words[i : i + 1] and words[i] in ("SELECT", "UPDATE", "DELETE", "INSERT") else None


def _plan_explain(
    replan: Replan, sql: str, tokens: list[Token], start: int, db: LogicalDatabase, nparams: int, reading: Reading
) -> Explain:
    """Routed like the statement it explains (from token ``start``): the nodes it would run on, each node's plan
    labelled."""
    inner = replan(sql[tokens[start].start :], db.name, reading)
    if not isinstance(inner, Routed) or not inner.targets:
        raise NotSupported("EXPLAIN of this statement")
    prefix = sql[: tokens[start].start]
    targets = tuple(
        Target(t.backend, Template((prefix + t.template.parts[0], *t.template.parts[1:]), t.template.slots))
        for t in inner.targets
    )
    labels = tuple(f"{t.backend} (node {i})" for i, t in enumerate(inner.targets))
    routed = inner if isinstance(inner, Route) else None
    return Explain(
        nparams=nparams,
        targets=targets,
        rule=routed.rule if routed else None,
        cond=routed.cond if routed else None,
        fixed=routed.fixed if routed else True,
        read_one=routed.read_one if routed else False,
        is_read=True,
        labels=labels,
        database=inner.database or db.name,  # a statement on no table: the session database's grant
        command="SELECT",
        table=inner.table,
    )


def _check_show(schema: LogicalSchema, tokens: list[Token], db: LogicalDatabase | None) -> Plan | None:
    """Refuse SHOW forms that are administration or name another database; answer the ones about sessions
    and grants locally (a Plan), else None (the caller plans it)."""
    words = words_of(tokens)
    i = 1
    while i < len(words) and words[i] in ("FULL", "GLOBAL", "SESSION", "EXTENDED"):
        i += 1
    sub = words[i] if i < len(words) else ""
    if sub not in _SHOW_ALLOWED:
        raise privilege_needed("PROCESS, SUPER", f"SHOW {' '.join(words[i : i + 2])}".strip())
    if sub == "CREATE" and words[i + 1 : i + 2] not in (["TABLE"], ["VIEW"], ["TRIGGER"]):
        obj = words[i + 1] if i + 1 < len(words) else ""
        if obj in ("DATABASE", "SCHEMA"):
            raise NotSupported("SHOW CREATE DATABASE through the proxy (logical databases come from the config)")
        raise privilege_needed("SELECT on mysql", f"SHOW CREATE {obj}")
    if sub == "PROCESSLIST":
        return Processlist(full="FULL" in words[1:i])
    if sub == "GRANTS":
        target = words[i + 2 :] if words[i + 1 : i + 2] == ["FOR"] else []
        if target and target[0] not in ("CURRENT_USER", "CURRENT_USER()"):
            raise database_denied("mysql")
        return ShowGrants()
    for _, name in qualifiers(tokens):
        check_qualifier(name, db.name if db else None)
    # SHOW TABLES FROM db / SHOW COLUMNS FROM t FROM db: the database argument
    froms = [j for j, t in enumerate(tokens) if t.token_type in (TokenType.FROM, TokenType.IN)]
    froms = [j for j in froms if j + 1 < len(tokens) and tokens[j + 1].token_type in NAME_TOKENS]
    froms = [j for j in froms if not (j + 2 < len(tokens) and tokens[j + 2].token_type == TokenType.DOT)]
    position = 0 if sub in _SHOW_DB_FIRST else 1 if sub in _SHOW_DB_SECOND else None
    if position is not None and len(froms) > position:
        named = tokens[froms[position] + 1].text
        if db is None or named.lower() != db.name.lower():
            if schema.get(named) is not None:
                raise NotSupported(f"SHOW ... FROM another logical database ({named}); USE it first")
            raise database_denied(named)
    return None
