"""Planning statements sqlglot parses: checked against what any user may do, their tables found, then routed:
to the default backend (unsharded tables, information_schema), to every backend (broadcast writes and DDL), or
by the shard condition over a sharded table's nodes, with a merge for a SELECT that may span several."""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlglot.tokens import Token

from dbproxy.errors import NoDatabaseSelected, NotSupported
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.plans.catalog import ForwardAny
from dbproxy.executor.plans.route import BroadcastWrite, Ddl, Route
from dbproxy.executor.plans.system import SystemRead
from dbproxy.planner.inserts import plan_insert
from dbproxy.planner.local_select import local_select, select_list_text
from dbproxy.planner.opaque import MAINTENANCE, as_maintenance
from dbproxy.planner.text import SYSTEM_SCHEMAS, check_regenerable, first_word
from dbproxy.router.access import (
    changes_a_sequence,
    check_functions,
    check_parsed_qualifiers,
    check_table,
    command_of,
    filtered_info_schema,
)
from dbproxy.router.conditions import joined_on_keys, shard_condition
from dbproxy.router.dialects import Reading, dialect_for
from dbproxy.router.rename import node_template, rename_ast
from dbproxy.router.render import render
from dbproxy.router.scatter import build_scatter
from dbproxy.router.schema import LogicalDatabase, LogicalSchema
from dbproxy.router.targets import Target
from dbproxy.router.template import Template
from dbproxy.router.tokens import rewrite

_DDL = (exp.Create, exp.Alter, exp.Drop, exp.TruncateTable)


def plan_parsed(
    schema: LogicalSchema,
    sql: str,
    tokens: list[Token],
    ast: exp.Expr,
    db: LogicalDatabase | None,
    nparams: int,
    reading: Reading,
) -> Plan:
    """Check the statement against what any user may do, plan it, and record what grants it needs."""
    command = command_of(ast, first_word(sql))
    check_functions(ast)
    cte_names = {c.alias_or_name.lower() for c in ast.find_all(exp.CTE)}
    tables = [t for t in ast.find_all(exp.Table) if t.name and t.name.lower() not in cte_names]
    logical = set(schema.databases)
    for t in tables:
        check_table(t, command, logical)
    check_parsed_qualifiers(tokens, ast, logical)
    plan = _plan_tree(schema, sql, tokens, ast, db, nparams, tables, reading)
    sequence_write = changes_a_sequence(tokens)
    if not tables:
        if sequence_write and db is not None:  # SELECT NEXTVAL(s): a write on the session database
            return dataclasses.replace(plan, database=db.name, writes=True, command="INSERT", table="*")
        return plan
    target_db = next((schema.get(t.db) for t in tables if t.db and t.db.lower() in logical), None) or db
    # anything but a read needs a read-write grant (ANALYZE TABLE too: MariaDB asks SELECT and INSERT)
    writes = sequence_write or not isinstance(ast, exp.Select | exp.Union | exp.Describe)
    if first_word(sql) in MAINTENANCE:
        plan = as_maintenance(plan, tokens, db)
    user_tables = [t for t in tables if t.db.lower() not in SYSTEM_SCHEMAS]
    return dataclasses.replace(
        plan,
        database=target_db.name if target_db is not None else None,
        writes=writes,
        command=command,
        table=(user_tables or tables)[0].name,
    )


def _plan_tree(
    schema: LogicalSchema,
    sql: str,
    tokens: list[Token],
    ast: exp.Expr,
    db: LogicalDatabase | None,
    nparams: int,
    tables: list[exp.Table],
    reading: Reading,
) -> Plan:
    if isinstance(ast, exp.Select) and not tables:
        local = local_select(ast, select_list_text(sql, tokens))
        if local is not None:
            return local
    system = [t for t in tables if t.db.lower() in SYSTEM_SCHEMAS]
    if not tables or (system and len(system) == len(tables)):
        if db is None:
            if system:  # information_schema is confined to one logical database: which one is needed
                raise NoDatabaseSelected()
            return ForwardAny(sql=sql)
        return _plan_system(sql, tokens, db, nparams, system)
    for t in tables:
        known = t.db and t.db.lower() not in SYSTEM_SCHEMAS and schema.get(t.db) is not None
        if known and (db is None or t.db.lower() != db.name.lower()):
            db = schema.get(t.db)
            if any(x.db and x.db.lower() != t.db.lower() for x in tables):
                raise NotSupported("a statement over several logical databases")
    if db is None:
        raise NoDatabaseSelected()
    if system:
        raise NotSupported("a join of information_schema with user tables")

    names = {t.name.lower() for t in tables}
    sharded = [db.sharded[n] for n in sorted(names) if n in db.sharded]
    broadcast = names & db.broadcast
    is_ddl = isinstance(ast, _DDL)
    is_write = isinstance(ast, exp.Insert | exp.Update | exp.Delete)
    is_read = isinstance(ast, exp.Select | exp.Union)
    strip = {db.name.lower()}

    if not sharded:
        if broadcast and (is_write or is_ddl):
            if is_write and names - broadcast:
                raise NotSupported("a write that mixes broadcast and unsharded tables")
            if is_ddl and names - broadcast:
                raise NotSupported("DDL over broadcast and other tables at once")
            template = rewrite(sql, tokens, {}, strip)
            targets = tuple(Target(b, template) for b in db.backends)
            if is_ddl:
                return Ddl(nparams=nparams, targets=targets)
            return BroadcastWrite(nparams=nparams, targets=targets)
        targets = (Target(db.default_backend, rewrite(sql, tokens, {}, strip)),)
        if is_ddl:
            return Ddl(nparams=nparams, targets=targets)
        return Route(nparams=nparams, targets=targets, is_read=is_read)

    # -- sharded tables involved
    if len(names) > 1 and is_ddl:
        raise NotSupported("DDL over several tables when one is sharded")
    main = sharded[0]
    if _has_subquery(ast) and not isinstance(ast, exp.Insert):
        # named first: a subquery's tables look like a join to the checks below
        raise NotSupported("subquery or UNION over a sharded table")
    if isinstance(ast, exp.Insert) and not isinstance(ast.expression, exp.Values):
        raise NotSupported(f"INSERT ... SELECT with sharded table {main.name}")
    for other in sharded[1:]:
        if other.rule.signature != main.rule.signature:
            raise NotSupported(f"join of tables not sharded alike ({main.name}, {other.name})")
    if not joined_on_keys(ast, sharded):
        raise NotSupported(f"join of sharded tables ({', '.join(s.name for s in sharded)}) not on their shard columns")
    if names - set(db.sharded) - db.broadcast:
        plain = sorted(names - set(db.sharded) - db.broadcast)
        raise NotSupported(f"join of sharded table {main.name} with unsharded table {plain[0]}")
    if is_write and isinstance(ast, exp.Insert | exp.Update | exp.Delete):
        target_name = _write_target(ast)
        if target_name in db.broadcast:
            raise NotSupported(f"a write to broadcast table {target_name} that reads a sharded table")
    if _has_subquery(ast):
        raise NotSupported("subquery or UNION over a sharded table")

    if isinstance(ast, exp.Insert):
        return plan_insert(sql, tokens, ast, db, main, nparams, dialect_for(reading))

    n_nodes = len(main.config.nodes)
    renames_per_node = [{s.name.lower(): s.config.nodes[i].table for s in sharded} for i in range(n_nodes)]
    check_regenerable(tokens, reading)
    dialect = dialect_for(reading)
    templates = [node_template(sql, tokens, ast, r, strip, dialect) for r in renames_per_node]

    if is_ddl:
        targets = tuple(Target(main.config.nodes[i].backend, templates[i]) for i in range(n_nodes))
        return Ddl(nparams=nparams, targets=targets, sharded_table=main.name)

    where = ast.args.get("where")
    cond = shard_condition(where.this, sharded) if where is not None else None
    merge = None
    merge_error: NotSupported | None = None
    merge_templates: list[Template | None] = [None] * n_nodes
    if isinstance(ast, exp.Select):
        try:
            merge, shard_ast = build_scatter(ast)
            merge_templates = [
                Template.from_marked(render(rename_ast(shard_ast.copy(), r, strip), dialect)) for r in renames_per_node
            ]
        except NotSupported as exc:
            merge_error = exc
    elif isinstance(ast, exp.Update):
        for eq in ast.expressions:
            if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column):
                col = eq.this.name.lower()
                if any(col == s.column for s in sharded):
                    raise NotSupported(f"UPDATE of shard column {eq.this.name}")
        if ast.args.get("order") or ast.args.get("limit"):
            merge_error = NotSupported("UPDATE with ORDER BY/LIMIT across shards")
    elif isinstance(ast, exp.Delete) and (ast.args.get("order") or ast.args.get("limit")):
        merge_error = NotSupported("DELETE with ORDER BY/LIMIT across shards")
    elif not isinstance(ast, exp.Update | exp.Delete):
        raise NotSupported(f"{ast.key.upper()} on sharded table {main.name}")
    targets = tuple(Target(main.config.nodes[i].backend, templates[i], merge_templates[i]) for i in range(n_nodes))
    return Route(
        nparams=nparams,
        targets=targets,
        rule=main.rule,
        cond=cond,
        fixed=False,
        is_read=is_read,
        merge=merge,
        merge_error=merge_error,
    )


def _plan_system(
    sql: str, tokens: list[Token], db: LogicalDatabase, nparams: int, system: list[exp.Table]
) -> Route | SystemRead:
    """A statement on no table, or on information_schema only: the default backend answers it. Its
    information_schema rows are confined to the logical database, and filters on its name mean the physical
    database there."""
    strings = None
    derived = None
    if system:
        # each information_schema table is read through a derived table holding only the rows of the
        # logical database's physical schema: no expression over it can see another database
        derived = {
            ("information_schema", t.name.lower()): filtered_info_schema(t.name, db.default_database) for t in system
        }
        strings = {db.name: db.default_database}
        # a filter on a sharded table's logical name means its shard on the default backend
        strings.update(
            {
                logical.decode(): physical.decode()
                for physical, logical in db.logical_names().items()
                if logical.decode() != db.name
            }
        )
    template = rewrite(sql, tokens, {}, set(), strings=strings, derived=derived)
    targets = (Target(db.default_backend, template),)
    if system:
        return SystemRead(nparams=nparams, targets=targets, is_read=True)
    return Route(nparams=nparams, targets=targets, is_read=True)


def _write_target(ast: exp.Expression) -> str:
    target = ast.this
    if isinstance(target, exp.Schema):
        target = target.this
    return target.name.lower() if isinstance(target, exp.Table) else ""


def _has_subquery(ast: exp.Expr) -> bool:
    for node in ast.walk():
        if node is ast:
            continue
        if isinstance(node, exp.Subquery | exp.Union | exp.With) or (
            isinstance(node, exp.Select) and not isinstance(ast, exp.Insert)
        ):
            return True
    return isinstance(ast, exp.Union)
