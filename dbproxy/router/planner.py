"""Turning one statement into a plan: classify it, find its tables and shard-key condition, build the
per-node statements. Runs once per distinct statement text (the plan cache holds the result)."""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.tokens import Token

from dbproxy.errors import NoDatabaseSelected, NotSupported, ParseError
from dbproxy.router.conditions import joined_on_keys, shard_condition
from dbproxy.router.inserts import plan_insert
from dbproxy.router.plan import Kind, Plan, Target
from dbproxy.router.rename import node_template, rename_ast
from dbproxy.router.scatter import build_scatter
from dbproxy.router.schema import LogicalDatabase, LogicalSchema
from dbproxy.router.template import Template
from dbproxy.router.tokens import mark_params, names_in, param_indexes, rewrite, tokenize

logging.getLogger("sqlglot").setLevel(logging.ERROR)

SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
_FIRST_WORD = re.compile(r"^(?:\s|/\*.*?\*/|#[^\n]*\n|--[^\n]*\n)*([A-Za-z]+)", re.S)
_LOCAL_FUNCS = {"database": "database", "schema": "database", "last_insert_id": "last_insert_id"}
_DDL = (exp.Create, exp.Alter, exp.Drop, exp.TruncateTable)


def first_word(sql: str) -> str:
    m = _FIRST_WORD.match(sql)
    return m.group(1).upper() if m else ""


class Planner:
    def __init__(self, schema: LogicalSchema) -> None:
        self.schema = schema

    def plan(self, sql: str, db_name: str | None) -> Plan:
        word = first_word(sql)
        db = self.schema.get(db_name)
        tokens = _tokenize(sql)
        nparams = len(param_indexes(tokens))
        words = [t.text.upper() for t in tokens[:4]]
        if word in ("BEGIN", "START"):
            if word == "START" and words[1:2] != ["TRANSACTION"]:
                raise NotSupported(f"START {words[1] if len(words) > 1 else ''}")
            return Plan(Kind.BEGIN, extra={"sql": sql})
        if word == "COMMIT":
            return Plan(Kind.COMMIT)
        if word == "ROLLBACK":
            if "TO" in words:
                raise NotSupported("ROLLBACK TO SAVEPOINT")
            return Plan(Kind.ROLLBACK)
        if word in ("SAVEPOINT", "RELEASE"):
            raise NotSupported("SAVEPOINT")
        if word == "XA":
            raise NotSupported("XA statements from clients (the proxy owns distributed commit)")
        if word == "USE":
            return Plan(Kind.USE, extra={"db": tokens[1].text if len(tokens) > 1 else ""})
        if word == "SET":
            return _plan_set(sql, nparams)
        if word in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return self._plan_show(sql, tokens, words, db, nparams)
        if word in ("CREATE", "DROP", "ALTER") and len(words) > 1 and words[1] in ("DATABASE", "SCHEMA"):
            raise NotSupported(f"{word} DATABASE through the proxy (logical databases come from the config)")
        if word in ("LOCK", "UNLOCK", "HANDLER", "LOAD", "CALL", "REPLACE", "RENAME", "GRANT", "REVOKE"):
            return self._plan_opaque(sql, tokens, word, db, nparams)

        marked, _ = mark_params(sql, tokens)
        try:
            ast: exp.Expr = sqlglot.parse_one(marked, read="mysql")
        except SqlglotParseError as exc:
            return self._plan_opaque(sql, tokens, word, db, nparams, parse_error=str(exc).splitlines()[0])
        if isinstance(ast, exp.Command):
            return self._plan_opaque(sql, tokens, word, db, nparams)
        return self._plan_ast(sql, tokens, ast, db, nparams)

    # -- statements the proxy cannot analyse -----------------------------------------------------------------

    def _plan_opaque(
        self,
        sql: str,
        tokens: list[Token],
        word: str,
        db: LogicalDatabase | None,
        nparams: int,
        parse_error: str | None = None,
    ) -> Plan:
        """Unparsed statements go to the default backend, unless they touch sharded or broadcast tables."""
        if db is None:
            if parse_error:
                raise ParseError(f"You have an error in your SQL syntax: {parse_error}")
            raise NoDatabaseSelected()
        names = set(names_in(tokens))
        if names & (set(db.sharded) | db.broadcast):
            raise NotSupported(f"{word} on a sharded or broadcast table")
        template = rewrite(sql, tokens, {}, {db.name.lower()})
        return Plan(Kind.ROUTE, nparams, (Target(db.default_backend, template),))

    def _plan_show(
        self, sql: str, tokens: list[Token], words: list[str], db: LogicalDatabase | None, nparams: int
    ) -> Plan:
        rest = words[1:]
        if rest[:1] in (["DATABASES"], ["SCHEMAS"]):
            return Plan(Kind.LOCAL, local="show_databases", extra={"sql": sql})
        if rest[:1] == ["TABLES"] or rest[:2] == ["FULL", "TABLES"]:
            return Plan(Kind.LOCAL, local="show_tables", extra={"full": rest[0] == "FULL"})
        if db is None:
            if words[0] == "SHOW":
                return Plan(Kind.LOCAL, local="forward_any", extra={"sql": sql})
            raise NoDatabaseSelected()
        if words[0] == "EXPLAIN" and rest[:1] and rest[0] in ("SELECT", "UPDATE", "DELETE", "INSERT"):
            inner = self.plan(sql[tokens[1].start :], db.name)
            if inner.kind not in (Kind.ROUTE, Kind.INSERT) or not inner.targets:
                raise NotSupported("EXPLAIN of this statement")
            t = inner.targets[0].template  # the first node's plan stands for all of them
            explain = Template((sql[: tokens[1].start] + t.parts[0], *t.parts[1:]), t.slots)
            return Plan(Kind.ROUTE, nparams, (Target(inner.targets[0].backend, explain),), is_read=True)
        # DESCRIBE t, SHOW COLUMNS FROM t, SHOW CREATE TABLE t, SHOW INDEX FROM t ...: ask the table's first node
        names = names_in(tokens)
        for name in names:
            info = db.sharded.get(name)
            if info is not None:
                node = info.config.nodes[0]
                template = rewrite(sql, tokens, {name: node.table}, {db.name.lower()})
                return Plan(Kind.ROUTE, nparams, (Target(node.backend, template),))
        template = rewrite(sql, tokens, {}, {db.name.lower()})
        return Plan(Kind.ROUTE, nparams, (Target(db.default_backend, template),))

    # -- parsed statements ------------------------------------------------------------------------------------

    def _plan_ast(self, sql: str, tokens: list[Token], ast: exp.Expr, db: LogicalDatabase | None, nparams: int) -> Plan:
        cte_names = {c.alias_or_name.lower() for c in ast.find_all(exp.CTE)}
        tables = [t for t in ast.find_all(exp.Table) if t.name and t.name.lower() not in cte_names]
        if isinstance(ast, exp.Select) and not tables:
            local = _local_select(ast)
            if local is not None:
                return Plan(Kind.LOCAL, local=local[0], extra={"columns": local[1]})
        system = [t for t in tables if t.db.lower() in SYSTEM_SCHEMAS]
        if not tables or (system and len(system) == len(tables)):
            if db is None:
                return Plan(Kind.LOCAL, local="forward_any", extra={"sql": sql})
            # information_schema answers come from the default backend: a filter on the logical database name
            # must name its physical database there
            strings = None
            if system:
                strings = {db.name: db.default_database}
                # a filter on a sharded table's logical name means its shard on the default backend
                strings.update(
                    {
                        logical.decode(): physical.decode()
                        for physical, logical in db.logical_names().items()
                        if logical.decode() != db.name
                    }
                )
            template = rewrite(sql, tokens, {}, set(), strings=strings)
            return Plan(
                Kind.ROUTE,
                nparams,
                (Target(db.default_backend, template),),
                is_read=True,
                extra={"system": bool(system)},
            )
        for t in tables:
            known = t.db and t.db.lower() not in SYSTEM_SCHEMAS and self.schema.get(t.db) is not None
            if known and (db is None or t.db.lower() != db.name.lower()):
                db = self.schema.get(t.db)
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
                return Plan(Kind.ROUTE, nparams, targets, implicit_commit=is_ddl, extra={"broadcast_write": is_write})
            template = rewrite(sql, tokens, {}, strip)
            return Plan(
                Kind.ROUTE, nparams, (Target(db.default_backend, template),), is_read=is_read, implicit_commit=is_ddl
            )

        # -- sharded tables involved
        if len(names) > 1 and is_ddl:
            raise NotSupported("DDL over several tables when one is sharded")
        main = sharded[0]
        if isinstance(ast, exp.Insert) and not isinstance(ast.expression, exp.Values):
            raise NotSupported(f"INSERT ... SELECT with sharded table {main.name}")
        for other in sharded[1:]:
            if other.rule.signature != main.rule.signature:
                raise NotSupported(f"join of tables not sharded alike ({main.name}, {other.name})")
        if not joined_on_keys(ast, sharded):
            raise NotSupported(
                f"join of sharded tables ({', '.join(s.name for s in sharded)}) not on their shard columns"
            )
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
            return plan_insert(sql, tokens, ast, db, main, nparams)

        n_nodes = len(main.config.nodes)
        renames_per_node = [{s.name.lower(): s.config.nodes[i].table for s in sharded} for i in range(n_nodes)]
        templates = [node_template(sql, tokens, ast, r, strip) for r in renames_per_node]

        if is_ddl:
            targets = tuple(Target(main.config.nodes[i].backend, templates[i]) for i in range(n_nodes))
            return Plan(Kind.ROUTE, nparams, targets, implicit_commit=True, extra={"ddl_table": main.name})

        where = ast.args.get("where")
        cond = shard_condition(where.this, sharded) if where is not None else None
        merge = None
        merge_error: NotSupported | None = None
        merge_templates: list[Template | None] = [None] * n_nodes
        if isinstance(ast, exp.Select):
            try:
                merge, shard_ast = build_scatter(ast)
                merge_templates = [
                    Template.from_marked(rename_ast(shard_ast.copy(), r, strip).sql(dialect="mysql"))
                    for r in renames_per_node
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
        return Plan(
            Kind.ROUTE,
            nparams,
            targets,
            rule=main.rule,
            cond=cond,
            fixed=False,
            is_read=is_read,
            merge=merge,
            merge_error=merge_error,
        )


def _tokenize(sql: str) -> list[Token]:
    try:
        return tokenize(sql)
    except Exception as exc:
        raise ParseError(f"You have an error in your SQL syntax: {exc}") from None


def _plan_set(sql: str, nparams: int) -> Plan:
    try:
        ast = sqlglot.parse_one(sql, read="mysql")
    except SqlglotParseError:
        return Plan(Kind.SET, nparams, extra={"autocommit": None, "charset": None, "rest": sql})
    autocommit: bool | None = None
    charset: str | None = None
    rest: list[str] = []
    for item in ast.expressions if isinstance(ast, exp.Set) else []:
        kind = (item.args.get("kind") or "").upper() if isinstance(item.args.get("kind"), str) else ""
        inner = item.this
        if kind in ("NAMES", "CHARACTER SET", "CHARSET"):
            charset = inner.name if isinstance(inner, exp.Expression) else str(inner)
            continue
        if isinstance(inner, exp.EQ):
            target = inner.this
            name = target.sql(dialect="mysql").lower().replace("@@session.", "").replace("@@", "")
            if name == "autocommit":
                value = inner.expression.sql(dialect="mysql").strip("'\"").upper()
                autocommit = value in ("1", "ON", "TRUE")
                continue
        rest.append(item.sql(dialect="mysql"))
    if not isinstance(ast, exp.Set):
        rest_sql: str | None = sql
    else:
        rest_sql = "SET " + ", ".join(rest) if rest else None
    return Plan(Kind.SET, nparams, extra={"autocommit": autocommit, "charset": charset, "rest": rest_sql})


def _local_select(ast: exp.Select) -> tuple[str, list[str]] | None:
    """SELECT DATABASE() / LAST_INSERT_ID(): answers that depend on the client's session, not a backend's."""
    kinds = []
    names = []
    for p in ast.expressions:
        inner = p.this if isinstance(p, exp.Alias) else p
        fname = ""
        if isinstance(inner, exp.Anonymous):
            fname = inner.name.lower()
        elif isinstance(inner, exp.Func):
            fname = inner.sql_name().lower()
        elif isinstance(inner, exp.SessionParameter) and inner.name.lower() in ("identity", "last_insert_id"):
            fname = "last_insert_id"
        if isinstance(inner, exp.CurrentSchema):
            fname = "database"
        kind = _LOCAL_FUNCS.get(fname)
        if kind is None or (isinstance(inner, exp.Func) and inner.expressions):
            return None
        kinds.append(kind)
        names.append(p.alias if isinstance(p, exp.Alias) else inner.sql(dialect="mysql"))
    if not kinds or ast.args.get("where"):
        return None
    return ",".join(kinds), names


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
