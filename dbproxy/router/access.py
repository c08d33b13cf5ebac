"""Confinement: what a user of the logical databases may send, decided on the statement's tokens and tree.

A proxy user sees only its logical databases. Anything that would reach beyond them through the backend's
account — other physical databases, the ``mysql``/``performance_schema``/``sys`` schemas, files on the server,
accounts and privileges, global state, server administration — is refused here with MySQL's own error for it,
before anything is sent. ``information_schema`` reads are confined by rewriting each table into a derived table
filtered to the logical database's physical schema, so no expression over its rows can see other databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import UnionType

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported, ProxyError, database_denied, privilege_needed, table_denied
from dbproxy.router.dialects import check_client_charset
from dbproxy.router.programs import check_program_body, defines_program

_NAMES = {TokenType.VAR, TokenType.IDENTIFIER}

# first word -> (privilege, construct): statements no proxy user may run
_ADMIN: dict[str, tuple[str, str]] = {
    "SHUTDOWN": ("SHUTDOWN", "SHUTDOWN"),
    "RESTART": ("SHUTDOWN", "RESTART"),
    "GRANT": ("GRANT OPTION", "GRANT"),
    "REVOKE": ("GRANT OPTION", "REVOKE"),
    "INSTALL": ("SUPER", "INSTALL PLUGIN/SONAME"),
    "UNINSTALL": ("SUPER", "UNINSTALL PLUGIN/SONAME"),
    "LOAD": ("FILE", "LOAD DATA/LOAD XML"),
    "FLUSH": ("RELOAD", "FLUSH"),
    "RESET": ("RELOAD", "RESET"),
    "PURGE": ("BINLOG ADMIN", "PURGE BINARY LOGS"),
    "CHANGE": ("REPLICATION SLAVE ADMIN", "CHANGE MASTER"),
    "BINLOG": ("BINLOG REPLAY", "BINLOG"),
    "CACHE": ("SUPER", "CACHE INDEX"),
    "BACKUP": ("RELOAD", "BACKUP STAGE"),
}
# CREATE/ALTER/DROP/RENAME of these objects are account or server administration
_ADMIN_OBJECTS = {"USER", "ROLE", "SERVER", "TABLESPACE", "LOGFILE"}
# START/STOP of anything but a transaction is replication
_SET_FORBIDDEN_WORDS = {"PASSWORD", "ROLE", "DEFAULT"}
# session variables whose SET needs SUPER-class privileges: they change what the server logs or replicates
_SET_FORBIDDEN_VARS = {
    "sql_log_bin",
    "sql_log_off",
    "pseudo_thread_id",
    "pseudo_slave_mode",
    "gtid_domain_id",
    "gtid_seq_no",
    "gtid_next",
    "server_id",
    "skip_replication",
    "debug",
    "debug_dbug",
    "sql_slave_skip_counter",
    # binary logging of this session: MariaDB asks BINLOG ADMIN / SUPER for these even at session scope
    "binlog_format",
    "binlog_row_image",
    "binlog_annotate_row_events",
    "binlog_direct_non_transactional_updates",
    "binlog_row_metadata",
    "sql_log_update",
    "wsrep_on",
    "wsrep_osu_method",
    "wsrep_trx_fragment_size",
}
# SET words after which a name is the client's character set (how MariaDB reads the following statements)
_CHARSET_WORDS = {"names", "charset", "character", "character_set_client"}
_FILE_WORDS = {"OUTFILE": "SELECT ... INTO OUTFILE", "DUMPFILE": "SELECT ... INTO DUMPFILE", "LOAD_FILE": "LOAD_FILE()"}
_FORBIDDEN_SCHEMAS = {"mysql", "performance_schema", "sys"}

# information_schema tables a user may read, with the column that says which schema a row belongs to
# (None: the table describes the server's character sets/engines, not anyone's objects)
INFO_SCHEMA_TABLES: dict[str, str | None] = {
    "schemata": "SCHEMA_NAME",
    "tables": "TABLE_SCHEMA",
    "columns": "TABLE_SCHEMA",
    "statistics": "TABLE_SCHEMA",
    "views": "TABLE_SCHEMA",
    "table_constraints": "CONSTRAINT_SCHEMA",
    "key_column_usage": "CONSTRAINT_SCHEMA",
    "referential_constraints": "CONSTRAINT_SCHEMA",
    "check_constraints": "CONSTRAINT_SCHEMA",
    "partitions": "TABLE_SCHEMA",
    "triggers": "TRIGGER_SCHEMA",
    "routines": "ROUTINE_SCHEMA",
    "parameters": "SPECIFIC_SCHEMA",
    "events": "EVENT_SCHEMA",
    "character_sets": None,
    "collations": None,
    "collation_character_set_applicability": None,
    "engines": None,
    "keywords": None,
    "sql_functions": None,
}


def check_words(word: str, tokens: Sequence[Token]) -> None:
    """Refusals decided by the statement's words alone (whatever the database)."""
    words = [t.text.upper() for t in tokens[:8] if t.token_type != TokenType.STRING]
    admin = _ADMIN.get(word)
    if admin is not None:
        raise privilege_needed(*admin)
    if word in ("CREATE", "ALTER", "DROP", "RENAME") and len(words) > 1:
        obj = words[2] if words[1] in ("OR", "DEFINER") and len(words) > 2 else words[1]
        if obj in _ADMIN_OBJECTS:
            raise privilege_needed("CREATE USER", f"{word} {obj}")
    if word in ("CREATE", "ALTER") and _names_a_directory(tokens):
        raise privilege_needed("FILE", "DATA/INDEX DIRECTORY")
    if defines_program(words):
        check_program_body(tokens)
    if word in ("START", "STOP") and words[1:2] and words[1] != "TRANSACTION":
        raise privilege_needed("REPLICATION SLAVE ADMIN", f"{word} {words[1]}")
    if word == "LOCK":
        raise NotSupported("LOCK TABLES (backend connections are shared between clients; use a transaction)")
    if word == "HANDLER":
        raise NotSupported("HANDLER (direct storage-engine cursors) through the proxy")
    if word in ("PREPARE", "EXECUTE", "DEALLOCATE"):
        raise NotSupported("SQL-level PREPARE/EXECUTE (use the binary protocol's prepared statements)")
    for tok in tokens:
        if tok.token_type in (TokenType.COMMAND, TokenType.EXECUTE) and tok.text.upper() in ("PREPARE", "EXECUTE"):
            # dynamic SQL inside a stored program body would run text no check ever saw
            raise NotSupported("dynamic SQL (PREPARE/EXECUTE) through the proxy")
        if tok.token_type == TokenType.VAR:  # a bare word, not a `quoted` name or a string
            upper = tok.text.upper()
            construct = _FILE_WORDS.get(upper)
            if construct is not None:
                raise privilege_needed("FILE", construct)
            if upper == "SONAME":
                raise privilege_needed("SUPER", "SONAME")


def _names_a_directory(tokens: Sequence[Token]) -> bool:
    """CREATE/ALTER TABLE ... DATA DIRECTORY = '...' / INDEX DIRECTORY: files outside the data directory."""
    for i, tok in enumerate(tokens[:-1]):
        if tok.text.upper() in ("DATA", "INDEX") and tokens[i + 1].text.upper() == "DIRECTORY":
            return tok.token_type != TokenType.STRING and tok.token_type != TokenType.IDENTIFIER
    return False


def check_set(tokens: Sequence[Token]) -> None:
    """SET may change this session only: no GLOBAL, no passwords or roles, no replication/logging switches,
    and no subquery (a SET's value would otherwise read any table unchecked)."""
    prev: Token | None = None
    for i, tok in enumerate(tokens):
        text = tok.text.lower()
        if tok.token_type == TokenType.STRING:
            prev = tok
            continue
        if text == "global" and not (prev is not None and prev.token_type == TokenType.DOT):
            raise privilege_needed("SUPER", "SET GLOBAL")
        if i == 1 and tok.text.upper() in _SET_FORBIDDEN_WORDS:
            raise privilege_needed("CREATE USER", f"SET {tok.text.upper()}")
        if tok.token_type in _NAMES and text in _SET_FORBIDDEN_VARS:
            raise privilege_needed("SUPER", f"SET {text}")
        if tok.token_type == TokenType.SELECT:
            raise NotSupported("a subquery in SET")
        prev = tok
    _check_set_charset(tokens)


def _check_set_charset(tokens: Sequence[Token]) -> None:
    """``SET NAMES x``, ``SET CHARACTER SET x``, ``SET character_set_client = x``: a character set whose
    multibyte characters can hold a backslash byte is refused, and so is a value the proxy cannot read as a
    name (an expression or a variable could name one)."""
    words = [t.text.lower() for t in tokens]
    if not _CHARSET_WORDS & set(words):
        return
    for i, tok in enumerate(tokens):
        if tok.token_type in (TokenType.STRING, TokenType.VAR, TokenType.IDENTIFIER):
            check_client_charset(tok.text)
        if words[i] == "character_set_client":
            value = tokens[i + 2 : i + 3] if i + 2 < len(tokens) else []
            after = tokens[i + 3] if i + 3 < len(tokens) else None
            plain = value and value[0].token_type in (TokenType.STRING, TokenType.VAR, TokenType.IDENTIFIER)
            if not plain or (after is not None and after.token_type not in (TokenType.COMMA, TokenType.SEMICOLON)):
                raise NotSupported("SET character_set_client to anything but a character set's name")


def changes_a_sequence(tokens: Sequence[Token]) -> bool:
    """Whether the statement advances or sets a sequence (``NEXTVAL(s)``, ``SETVAL(s, n)``, ``NEXT VALUE FOR s``):
    a write, though it may be a SELECT (MariaDB asks INSERT on the sequence)."""
    for i, tok in enumerate(tokens[:-1]):
        if tok.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.IDENTIFIER):
            continue
        word = tok.text.upper()
        if word in ("NEXTVAL", "SETVAL") and tokens[i + 1].token_type == TokenType.L_PAREN:
            return True
        if word == "NEXT" and [t.text.upper() for t in tokens[i + 1 : i + 3]] == ["VALUE", "FOR"]:
            return True
    return False


def qualifiers(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """(token index, lower-case name) of every name directly followed by a dot that is not itself after a dot
    or an ``@``/``@@`` (``db.t``, ``db.t.c``, ``t.c``; not ``@@session.x``)."""
    out: list[tuple[int, str]] = []
    for i, tok in enumerate(tokens[:-1]):
        if tok.token_type not in _NAMES or tokens[i + 1].token_type != TokenType.DOT:
            continue
        if i > 0 and tokens[i - 1].token_type in (TokenType.DOT, TokenType.SESSION_PARAMETER, TokenType.PARAMETER):
            continue
        out.append((i, tok.text.lower()))
    return out


def check_opaque_names(tokens: Sequence[Token], logical: str | None) -> None:
    """For statements the proxy does not parse: a qualifier must be the logical database (or ``NEW.``/``OLD.``
    in a trigger). Without a tree the proxy cannot tell ``t.col`` from ``db.table`` (``other.secret other`` makes
    ``other`` an alias too), so any other qualifier is refused: 1044 when nothing else in the statement uses
    that name, 1235 when it might be a table or an alias."""
    quals = qualifiers(tokens)
    if not quals:
        return
    qual_positions = {i for i, _ in quals}
    standalone = {t.text.lower() for i, t in enumerate(tokens) if t.token_type in _NAMES and i not in qual_positions}
    trigger = any(t.text.upper() == "TRIGGER" for t in tokens[:8])
    for _, name in quals:
        if name in _FORBIDDEN_SCHEMAS or name == "information_schema":
            raise table_denied("SELECT", name, "*")
        if name == (logical or "").lower() or (trigger and name in ("new", "old")):
            continue
        if name not in standalone:
            raise database_denied(name)
        raise NotSupported(
            f"the qualified name {name}.… in a statement dbproxy cannot parse (it cannot tell a table or alias "
            "from a database there: write the name unqualified or qualified with the database)"
        )


def check_parsed_qualifiers(tokens: Sequence[Token], ast: exp.Expr, logical: set[str]) -> None:
    """Every ``x.`` in a parsed statement must be a database its tables were checked against, a table, an
    alias or a CTE of the statement (a function or sequence of another database, ``other.f()``, is not a
    table sqlglot would show)."""
    quals = qualifiers(tokens)
    if not quals:
        return
    known = set(logical) | {"information_schema"}
    for node in ast.find_all(exp.Table, exp.TableAlias, exp.CTE):
        if isinstance(node, exp.Table):
            known.add(node.name.lower())
            if node.alias:
                known.add(node.alias.lower())
        else:
            known.add(node.alias_or_name.lower() if isinstance(node, exp.CTE) else node.name.lower())
    trigger = any(t.text.upper() == "TRIGGER" for t in tokens[:8])
    for _, name in quals:
        if name in known or (trigger and name in ("new", "old")):
            continue
        if name in _FORBIDDEN_SCHEMAS:
            raise table_denied("SELECT", name, "*")
        raise database_denied(name)


def check_qualifier(name: str, logical: str | None) -> None:
    """``name.`` in a statement whose names must all be in the session's logical database."""
    low = name.lower()
    if logical is not None and low == logical.lower():
        return
    if low in _FORBIDDEN_SCHEMAS or low == "information_schema":
        raise table_denied("SELECT", name, "*")
    raise database_denied(name)


def check_table(table: exp.Table, command: str, schema_names: set[str]) -> None:
    """A table named with a schema: system schemas other than information_schema and unknown databases are
    refused (``schema_names``: the logical databases, lower-case)."""
    db = table.db.lower()
    if not db or db in schema_names:
        return
    if db in _FORBIDDEN_SCHEMAS:
        raise table_denied(command, table.db, table.name)
    if db == "information_schema":
        if table.name.lower() not in INFO_SCHEMA_TABLES:
            raise table_denied(command, table.db, table.name)
        if command != "SELECT":
            raise table_denied(command, table.db, table.name)
        return
    raise database_denied(table.db)


# statement class -> the privilege word MySQL names in 1142 for it
_COMMAND_WORDS: tuple[tuple[type[exp.Expr] | UnionType, str], ...] = (
    (exp.Select | exp.Union, "SELECT"),
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.Create, "CREATE"),
)


def command_of(ast: exp.Expr, word: str) -> str:
    """The privilege word MySQL names in 1142 for a statement."""
    return next((command for kind, command in _COMMAND_WORDS if isinstance(ast, kind)), word or "SELECT")


def check_functions(ast: exp.Expr) -> None:
    for node in ast.find_all(exp.Anonymous):
        if isinstance(node.this, str) and node.this.upper() == "LOAD_FILE":
            raise privilege_needed("FILE", "LOAD_FILE()")


def filtered_info_schema(table: str, physical_db: str) -> str:
    """The derived table that stands for ``information_schema.<table>``: only the logical database's rows."""
    column = INFO_SCHEMA_TABLES[table.lower()]
    source = f"information_schema.`{table}`"
    if column is None:
        return f"(SELECT * FROM {source})"
    quoted = physical_db.replace("\\", "\\\\").replace("'", "''")
    return f"(SELECT * FROM {source} WHERE `{column}` = '{quoted}')"


def refuse_kill_target(target: int) -> ProxyError:
    return ProxyError(f"Unknown thread id: {target}", code=1094)
