"""Turning one statement into a plan: classify it, find its tables and shard-key condition, build the
per-node statements. Runs once per distinct statement text (the plan cache holds the result)."""

from __future__ import annotations

import dataclasses
import logging
import re

from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from dbproxy.errors import (
    NoDatabaseSelected,
    NotSupported,
    ParseError,
    ProxyError,
    database_denied,
    privilege_needed,
)
from dbproxy.router.access import (
    check_functions,
    check_opaque_names,
    check_parsed_qualifiers,
    check_qualifier,
    check_set,
    check_table,
    check_words,
    command_of,
    filtered_info_schema,
    qualifiers,
)
from dbproxy.router.conditions import joined_on_keys, shard_condition
from dbproxy.router.dialects import DEFAULT_READING, Reading, dialect_for
from dbproxy.router.inserts import plan_insert
from dbproxy.router.plan import Kind, Plan, Target
from dbproxy.router.programs import defines_program
from dbproxy.router.reading import read_text, verify_tokens
from dbproxy.router.rename import node_template, rename_ast
from dbproxy.router.render import keep_written_literals, render
from dbproxy.router.scatter import build_scatter
from dbproxy.router.schema import LogicalDatabase, LogicalSchema
from dbproxy.router.session_functions import RESERVED_PREFIX, substitute, with_slots
from dbproxy.router.template import Template
from dbproxy.router.tokens import mark_params, names_in, param_indexes, quote, rewrite, tokenize

logging.getLogger("sqlglot").setLevel(logging.ERROR)

SYSTEM_SCHEMAS = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
_FIRST_WORD = re.compile(r"^(?:\s|/\*.*?\*/|#[^\n]*\n|--[^\n]*\n)*([A-Za-z]+)", re.S)
_LOCAL_FUNCS = {
    "database": "database",
    "schema": "database",
    "last_insert_id": "last_insert_id",
    "connection_id": "connection_id",
    "user": "user",
    "session_user": "user",
    "system_user": "user",
    "current_user": "current_user",
    "autocommit": "autocommit",
    "wait_timeout": "wait_timeout",
}
# session variables the proxy keeps itself (not the backend connections'): read back from the session
_SESSION_VARS = {"autocommit": "autocommit", "wait_timeout": "wait_timeout", "interactive_timeout": "wait_timeout"}
_READ_WORDS = {"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH", "VALUES", "CHECK", "CHECKSUM", "HELP"}
_BEGIN_FORMS = (
    ["BEGIN"],
    ["BEGIN", "WORK"],
    ["START", "TRANSACTION"],
)
_START_OPTIONS = {"READ", "ONLY", "WRITE", "WITH", "CONSISTENT", "SNAPSHOT", ","}
# SHOW forms a user may run (the word after SHOW, FULL/GLOBAL/SESSION skipped); the rest is administration
_SHOW_ALLOWED = {
    "DATABASES", "SCHEMAS", "TABLES", "COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS", "CREATE", "TABLE",
    "VARIABLES", "STATUS", "WARNINGS", "ERRORS", "COUNT", "COLLATION", "CHARACTER", "CHARSET", "ENGINES",
    "PROCESSLIST", "GRANTS", "TRIGGERS", "OPEN", "PRIVILEGES", "PROFILES", "PROFILE", "PLUGINS",
}  # fmt: skip
_SHOW_DB_FIRST = {"TABLES", "TABLE", "TRIGGERS", "OPEN"}  # SHOW TABLES FROM db: the first FROM names a database
_SHOW_DB_SECOND = {"COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"}  # SHOW COLUMNS FROM t FROM db
_DDL = (exp.Create, exp.Alter, exp.Drop, exp.TruncateTable)
_MAINTENANCE = {"ANALYZE", "CHECK", "OPTIMIZE", "REPAIR", "CHECKSUM"}


def first_word(sql: str) -> str:
    m = _FIRST_WORD.match(sql)
    return m.group(1).upper() if m else ""


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
        tokens = _tokenize(sql, reading)
        verify_tokens(read, tokens)
        _check_depth(tokens, self.max_depth)
        check_words(word, tokens)
        if word != "BEGIN":  # BEGIN NOT ATOMIC ... END: a compound statement, refused below with its name
            _check_one_statement(tokens)
        try:
            plan = self._plan(sql, word, tokens, db_name, reading)
        except RecursionError:
            raise NotSupported(f"a statement this deeply nested (more than {self.max_depth} levels)") from None
        if plan.kind in (Kind.ROUTE, Kind.INSERT) and plan.database is None and db_name is not None:
            # a statement on the session's database (an unqualified table) is checked against its grant
            uses_tables = bool(plan.targets) and not plan.extra.get("no_tables")
            if uses_tables:
                plan = dataclasses.replace(plan, database=self.schema.get(db_name).name)  # type: ignore[union-attr]
        if session_functions and (plan.kind is Kind.ROUTE or plan.local == "forward_any"):
            db = self.schema.get(db_name)
            substituted = substitute(sql, tokens, db.name if db is not None else None)
            if substituted is not None:
                plan = self._plan_text(substituted, db_name, reading)
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
            # only a transaction start: BEGIN NOT ATOMIC ... END is a compound statement, never sent as a BEGIN
            body = [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]
            if word == "BEGIN" and body[1:] not in ([], ["WORK"]):
                raise NotSupported(f"{' '.join(body[:3])} (only BEGIN [WORK] starts a transaction here)")
            if word == "START" and (body[1:2] != ["TRANSACTION"] or set(body[2:]) - _START_OPTIONS):
                raise NotSupported(
                    f"{' '.join(body[:3])} (only START TRANSACTION [READ ONLY|READ WRITE|WITH CONSISTENT SNAPSHOT])"
                )
            return Plan(Kind.BEGIN, extra={"sql": sql})
        if word == "KILL":
            return _plan_kill(tokens)
        if word == "UNLOCK":
            return Plan(Kind.LOCAL, local="ok")  # LOCK TABLES is refused: nothing is ever locked
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
            if words[1:2] == ["STATEMENT"]:
                return self._plan_set_statement(sql, tokens, db_name, reading)
            check_set(tokens)
            return _plan_set(sql, nparams, reading)
        if word in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
            return self._plan_show(sql, tokens, words, db, nparams, reading)
        if word in ("CREATE", "DROP", "ALTER") and len(words) > 1 and words[1] in ("DATABASE", "SCHEMA"):
            return self._plan_database_ddl(word, tokens)
        if word in ("LOCK", "UNLOCK", "HANDLER", "LOAD", "CALL", "REPLACE", "RENAME", "GRANT", "REVOKE"):
            return self._plan_opaque(sql, tokens, word, db, nparams)

        marked, _ = mark_params(sql, tokens)
        try:
            ast: exp.Expr = _parse(marked, reading)
            keep_written_literals(ast, marked)
        except (SqlglotParseError, TokenError) as exc:
            # TokenError: text sqlglot's tokenizer rejects but the server may accept (NO_BACKSLASH_ESCAPES)
            return self._plan_opaque(sql, tokens, word, db, nparams, parse_error=str(exc).splitlines()[0])
        if isinstance(ast, exp.Command):
            return self._plan_opaque(sql, tokens, word, db, nparams)
        return self._plan_ast(sql, tokens, ast, db, nparams, reading)

    # -- statements the proxy cannot analyse -----------------------------------------------------------------

    def _plan_database_ddl(self, word: str, tokens: list[Token]) -> Plan:
        """CREATE/DROP DATABASE: logical databases come from the config, so CREATE of one that exists is a
        no-op and DROP empties it (its tables on every backend, as MariaDB's DROP DATABASE would); another
        name is a database this user cannot create (1044) or, with IF EXISTS, one it cannot see (a no-op).
        What tools like mariadb-slap --create-schema=<logical database> need."""
        words = [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]
        if word == "ALTER":
            raise NotSupported("ALTER DATABASE through the proxy (logical databases come from the config)")
        guarded = words[2:4] in (["IF", "EXISTS"], ["IF", "NOT"])
        at = 2 + (2 if words[2:4] == ["IF", "EXISTS"] else 3 if guarded else 0)
        names = [t for t in tokens[at:] if t.token_type in _NAME_TOKENS]
        if at >= len(tokens) or tokens[at] not in names:
            raise ParseError(f"You have an error in your SQL syntax near '{' '.join(words[:3])}'")
        name = tokens[at].text
        db = self.schema.get(name)
        if db is None:
            if word == "DROP" and guarded:
                return Plan(Kind.LOCAL, local="ok")
            if word == "DROP":
                raise ProxyError(f"Can't drop database '{name}'; database doesn't exist", code=1008)
            raise database_denied(name)
        if word == "CREATE":
            return Plan(Kind.LOCAL, local="ok", database=db.name, writes=True, command="CREATE", table="*")
        shared = [
            d.name for d in self.schema.databases.values() if d is not db and d.default_database == db.default_database
        ]
        if shared:
            raise NotSupported(f"DROP DATABASE {db.name} (its physical database also holds {shared[0]})")
        return Plan(
            Kind.LOCAL,
            local="drop_database",
            extra={"db": db.name},
            database=db.name,
            writes=True,
            command="DROP",
            table="*",
        )

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
        check_opaque_names(tokens, db.name)
        names = set(names_in(tokens))
        if names & (set(db.sharded) | db.broadcast):
            raise NotSupported(f"{word} on a sharded or broadcast table")
        template = rewrite(sql, tokens, {}, {db.name.lower()})
        return Plan(
            Kind.ROUTE,
            nparams,
            (Target(db.default_backend, template),),
            extra=_maintenance_names(tokens, db) if word in _MAINTENANCE else {},
            database=db.name,
            writes=word not in _READ_WORDS,
            command=word,
            table="*",
        )

    def _plan_show(
        self,
        sql: str,
        tokens: list[Token],
        words: list[str],
        db: LogicalDatabase | None,
        nparams: int,
        reading: Reading,
    ) -> Plan:
        rest = words[1:]
        if words[0] == "SHOW":
            local = self._check_show(tokens, db)
            if local is not None:
                return local
        else:  # DESCRIBE/EXPLAIN t: a qualifier must be the session's logical database
            for _, name in qualifiers(tokens):
                check_qualifier(name, db.name if db else None)
        if rest[:1] in (["DATABASES"], ["SCHEMAS"]):
            return Plan(Kind.LOCAL, local="show_databases", extra={"sql": sql})
        if rest[:1] == ["TABLES"] or rest[:2] == ["FULL", "TABLES"]:
            return Plan(Kind.LOCAL, local="show_tables", extra={"full": rest[0] == "FULL"})
        if db is None:
            if words[0] == "SHOW":
                return Plan(Kind.LOCAL, local="forward_any", extra={"sql": sql})
            raise NoDatabaseSelected()
        if words[0] == "EXPLAIN" and rest[:1] and rest[0] in ("SELECT", "UPDATE", "DELETE", "INSERT"):
            inner = self._plan_text(sql[tokens[1].start :], db.name, reading)
            if inner.kind not in (Kind.ROUTE, Kind.INSERT) or not inner.targets:
                raise NotSupported("EXPLAIN of this statement")
            # routed like the statement it explains: the nodes it would run on, each node's plan labelled
            prefix = sql[: tokens[1].start]
            targets = tuple(
                Target(t.backend, Template((prefix + t.template.parts[0], *t.template.parts[1:]), t.template.slots))
                for t in inner.targets
            )
            labels = [f"{t.backend} (node {i})" for i, t in enumerate(inner.targets)]
            routed = inner.kind is Kind.ROUTE
            return Plan(
                Kind.ROUTE,
                nparams,
                targets,
                rule=inner.rule if routed else None,
                cond=inner.cond if routed else None,
                fixed=inner.fixed if routed else True,
                read_one=inner.read_one,
                is_read=True,
                extra={"explain": labels},
                database=inner.database,
                command="SELECT",
                table=inner.table,
            )
        # DESCRIBE t, SHOW COLUMNS FROM t, SHOW CREATE TABLE t, SHOW INDEX FROM t ...: ask the table's first node
        # (answers name physical tables: they are translated back to logical names)
        names = names_in(tokens)
        for name in names:
            info = db.sharded.get(name)
            if info is not None:
                node = info.config.nodes[0]
                template = rewrite(sql, tokens, {name: node.table}, {db.name.lower()})
                logical = {node.table.encode(): info.name.encode()}
                extra: dict[str, object] = {"system": True, "names": logical}
                return Plan(Kind.ROUTE, nparams, (Target(node.backend, template),), is_read=True, extra=extra)
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
        extra = {"system": True, "names": db.logical_names()}
        return Plan(Kind.ROUTE, nparams, (Target(db.default_backend, template),), is_read=True, extra=extra)

    def _check_show(self, tokens: list[Token], db: LogicalDatabase | None) -> Plan | None:
        """Refuse SHOW forms that are administration or name another database; answer the ones about sessions
        and grants locally (a Plan), else None (the caller plans it)."""
        words = [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]
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
            return Plan(Kind.LOCAL, local="processlist", extra={"full": "FULL" in words[1:i]})
        if sub == "GRANTS":
            target = words[i + 2 :] if words[i + 1 : i + 2] == ["FOR"] else []
            if target and target[0] not in ("CURRENT_USER", "CURRENT_USER()"):
                raise database_denied("mysql")
            return Plan(Kind.LOCAL, local="grants")
        for _, name in qualifiers(tokens):
            check_qualifier(name, db.name if db else None)
        # SHOW TABLES FROM db / SHOW COLUMNS FROM t FROM db: the database argument
        froms = [j for j, t in enumerate(tokens) if t.token_type in (TokenType.FROM, TokenType.IN)]
        froms = [j for j in froms if j + 1 < len(tokens) and tokens[j + 1].token_type in _NAME_TOKENS]
        froms = [j for j in froms if not (j + 2 < len(tokens) and tokens[j + 2].token_type == TokenType.DOT)]
        position = 0 if sub in _SHOW_DB_FIRST else 1 if sub in _SHOW_DB_SECOND else None
        if position is not None and len(froms) > position:
            named = tokens[froms[position] + 1].text
            if db is None or named.lower() != db.name.lower():
                if self.schema.get(named) is not None:
                    raise NotSupported(f"SHOW ... FROM another logical database ({named}); USE it first")
                raise database_denied(named)
        return None

    def _plan_set_statement(self, sql: str, tokens: list[Token], db_name: str | None, reading: Reading) -> Plan:
        """SET STATEMENT var=value[, ...] FOR <statement>: the statement planned as usual, each per-node
        statement sent with the same prefix (the variables hold for that one statement on every node)."""
        fors = [j for j, t in enumerate(tokens) if t.token_type == TokenType.FOR]
        if not fors or fors[0] + 1 >= len(tokens):
            raise ParseError("You have an error in your SQL syntax: SET STATEMENT needs FOR <statement>")
        cut = fors[0]
        check_set(tokens[:cut])
        prefix = sql[: tokens[cut].end + 1] + " "
        inner = self._plan_text(sql[tokens[cut + 1].start :], db_name, reading)
        if inner.kind not in (Kind.ROUTE, Kind.INSERT):
            raise NotSupported(f"SET STATEMENT ... FOR {first_word(sql[tokens[cut + 1].start :])}")

        def wrap(t: Template | None) -> Template | None:
            return None if t is None else Template((prefix + t.parts[0], *t.parts[1:]), t.slots)

        targets = tuple(Target(t.backend, wrap(t.template), wrap(t.merge_template)) for t in inner.targets)  # type: ignore[arg-type]
        prefixes = tuple(wrap(t) for t in inner.insert_prefix)
        return dataclasses.replace(inner, targets=targets, insert_prefix=prefixes)  # type: ignore[arg-type]

    # -- parsed statements ------------------------------------------------------------------------------------

    def _plan_ast(
        self,
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
        logical = set(self.schema.databases)
        for t in tables:
            check_table(t, command, logical)
        check_parsed_qualifiers(tokens, ast, logical)
        plan = self._plan_tree(sql, tokens, ast, db, nparams, tables, reading)
        if not tables:
            return plan
        target_db = next((self.schema.get(t.db) for t in tables if t.db and t.db.lower() in logical), None) or db
        # anything but a read needs a read-write grant (ANALYZE TABLE too: MariaDB asks SELECT and INSERT)
        writes = not isinstance(ast, exp.Select | exp.Union | exp.Describe)
        if first_word(sql) in _MAINTENANCE:
            plan = dataclasses.replace(plan, extra={**plan.extra, **_maintenance_names(tokens, db)})
        user_tables = [t for t in tables if t.db.lower() not in SYSTEM_SCHEMAS]
        return dataclasses.replace(
            plan,
            database=target_db.name if target_db is not None else None,
            writes=writes,
            command=command,
            table=(user_tables or tables)[0].name,
        )

    def _plan_tree(
        self,
        sql: str,
        tokens: list[Token],
        ast: exp.Expr,
        db: LogicalDatabase | None,
        nparams: int,
        tables: list[exp.Table],
        reading: Reading,
    ) -> Plan:
        if isinstance(ast, exp.Select) and not tables:
            local = _local_select(ast, _select_list_text(sql, tokens))
            if local is not None:
                return Plan(Kind.LOCAL, local=local[0], extra={"columns": local[1]})
        system = [t for t in tables if t.db.lower() in SYSTEM_SCHEMAS]
        if not tables or (system and len(system) == len(tables)):
            if db is None:
                if system:  # information_schema is confined to one logical database: which one is needed
                    raise NoDatabaseSelected()
                return Plan(Kind.LOCAL, local="forward_any", extra={"sql": sql})
            # information_schema answers come from the default backend: a filter on the logical database name
            # must name its physical database there
            strings = None
            derived = None
            if system:
                # each information_schema table is read through a derived table holding only the rows of the
                # logical database's physical schema: no expression over it can see another database
                derived = {
                    ("information_schema", t.name.lower()): filtered_info_schema(t.name, db.default_database)
                    for t in system
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
            return Plan(
                Kind.ROUTE,
                nparams,
                (Target(db.default_backend, template),),
                is_read=True,
                extra={"system": bool(system), "no_tables": not tables},
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
        if _has_subquery(ast) and not isinstance(ast, exp.Insert):
            # named first: a subquery's tables look like a join to the checks below
            raise NotSupported("subquery or UNION over a sharded table")
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
            return plan_insert(sql, tokens, ast, db, main, nparams, dialect_for(reading))

        n_nodes = len(main.config.nodes)
        renames_per_node = [{s.name.lower(): s.config.nodes[i].table for s in sharded} for i in range(n_nodes)]
        _check_regenerable(tokens, reading)
        dialect = dialect_for(reading)
        templates = [node_template(sql, tokens, ast, r, strip, dialect) for r in renames_per_node]

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
                    Template.from_marked(render(rename_ast(shard_ast.copy(), r, strip), dialect))
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


_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}


def _maintenance_names(tokens: list[Token], db: LogicalDatabase | None) -> dict[str, object]:
    """ANALYZE/CHECK/OPTIMIZE/REPAIR/CHECKSUM TABLE answer one row per table named ``physical_db.table``: the
    answer is translated back to ``logical_db.table`` (a client never sees a physical name)."""
    if db is None:
        return {}
    physical, logical = db.default_database, db.name
    names = {f"{physical}.{n}".encode(): f"{logical}.{n}".encode() for n in names_in(tokens)}
    return {"system": True, "names": names}


def _plan_kill(tokens: list[Token]) -> Plan:
    """KILL [CONNECTION|QUERY] id: the id is one of the proxy's own connection ids (never a backend thread)."""
    words = [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]
    query = len(words) > 1 and words[1] == "QUERY"
    rest = words[2:] if len(words) > 1 and words[1] in ("QUERY", "CONNECTION") else words[1:]
    if rest[:1] in (["USER"], ["ID"]) or len(rest) != 1 or not rest[0].isdigit():
        raise privilege_needed("CONNECTION ADMIN", "KILL " + " ".join(words[1:]))
    return Plan(Kind.LOCAL, local="kill", extra={"id": int(rest[0]), "query": query})


def _check_one_statement(tokens: list[Token]) -> None:
    """A statement is planned alone: a semicolon before its end (a text split under another reading, or sent
    without CLIENT_MULTI_STATEMENTS) is refused, except inside a stored program's compound body."""
    for tok in tokens[:-1]:
        if tok.token_type == TokenType.SEMICOLON:
            if defines_program([t.text.upper() for t in tokens[:8] if t.token_type != TokenType.STRING]):
                return
            raise ParseError(f"You have an error in your SQL syntax: several statements in one (offset {tok.start})")


def _check_depth(tokens: list[Token], limit: int) -> None:
    depth = 0
    for tok in tokens:
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
            if depth > limit:
                raise NotSupported(f"a statement nested more than {limit} levels deep")
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1


def _tokenize(sql: str, reading: Reading) -> list[Token]:
    try:
        return tokenize(sql, reading)
    except Exception as exc:
        raise ParseError(f"You have an error in your SQL syntax: {exc}") from None


def _parse(sql: str, reading: Reading) -> exp.Expr:
    """One statement parsed by the dialect of the session's reading."""
    dialect = dialect_for(reading)
    ast = dialect.parser().parse(tokenize(sql, reading), sql)[0]
    if ast is None:
        raise SqlglotParseError("empty statement")
    return ast


def _check_regenerable(tokens: list[Token], reading: Reading) -> None:
    """sqlglot cannot parse ``||`` as concatenation: a statement the proxy prints from its tree would turn
    PIPES_AS_CONCAT's concatenation into OR."""
    if reading.pipes_as_concat and any(t.token_type == TokenType.DPIPE for t in tokens):
        raise NotSupported("|| under sql_mode PIPES_AS_CONCAT in a statement dbproxy rewrites (use CONCAT())")


def _plan_set(sql: str, nparams: int, reading: Reading) -> Plan:
    _check_regenerable(tokenize(sql, reading), reading)
    dialect = dialect_for(reading)
    try:
        ast = _parse(sql, reading)
    except SqlglotParseError:
        return Plan(Kind.SET, nparams, extra={"autocommit": None, "charset": None, "rest": sql})
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
    extra: dict[str, object] = {"autocommit": autocommit, "charset": charset, "rest": rest_sql}
    if wait_timeout is not None:
        extra["wait_timeout"] = wait_timeout
    return Plan(Kind.SET, nparams, extra=extra)


def _select_list_text(sql: str, tokens: list[Token]) -> list[str]:
    """The select list's expressions as written (split at top-level commas), for column names."""
    if not tokens or tokens[0].token_type != TokenType.SELECT:
        return []
    out: list[str] = []
    depth = 0
    start = tokens[1].start if len(tokens) > 1 else len(sql)
    end = start
    for tok in tokens[1:]:
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and tok.token_type in (TokenType.COMMA, TokenType.FROM, TokenType.SEMICOLON):
            out.append(sql[start:end].strip())
            if tok.token_type != TokenType.COMMA:
                return out
            start = tok.end + 1
            continue
        end = tok.end + 1
    out.append(sql[start:end].strip())
    return out


def _local_select(ast: exp.Select, written: list[str]) -> tuple[str, list[str]] | None:
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
        elif isinstance(inner, exp.SessionParameter) and inner.name.lower() in _SESSION_VARS:
            if (inner.args.get("kind") or "session").lower() == "global":
                return None
            fname = _SESSION_VARS[inner.name.lower()]
        if isinstance(inner, exp.CurrentSchema):
            fname = "database"
        kind = _LOCAL_FUNCS.get(fname)
        if kind is None or (isinstance(inner, exp.Func) and inner.expressions):
            return None
        kinds.append(kind)
        names.append(p.alias if isinstance(p, exp.Alias) else "")
    if not kinds or ast.args.get("where") or len(written) != len(names):
        return None
    # MySQL names an unaliased column by the expression as the client wrote it (`database()`, not SCHEMA())
    return ",".join(kinds), [n or w for n, w in zip(names, written, strict=True)]


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
