"""Stored programs (procedures, functions, triggers, events) run inside the server with the backend account's
rights, long after the proxy saw the CREATE: their bodies may hold no statement a proxy user may not send.

The body is not planned statement by statement (compound statements, cursors and handlers are MariaDB's
grammar, not sqlglot's); instead every statement kind the proxy refuses or answers itself (SHOW, KILL, USE,
account, replication and server administration, SET GLOBAL ...) is refused wherever it appears in the body as
a word. Names in the body are checked like every unparsed statement's (``access.check_opaque_names``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported

_PROGRAMS = {"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"}
# words that start a statement a stored program may not run, alone or with the word that follows them
_REFUSED = {
    "SHOW", "KILL", "GRANT", "REVOKE", "USE", "FLUSH", "SHUTDOWN", "RESTART", "INSTALL", "UNINSTALL",
    "HANDLER", "PURGE", "BINLOG", "DEALLOCATE", "XA", "GLOBAL",
}  # fmt: skip
_REFUSED_PAIRS = {
    ("LOCK", "TABLES"), ("LOCK", "TABLE"), ("LOAD", "DATA"), ("LOAD", "XML"), ("LOAD", "INDEX"),
    ("CHANGE", "MASTER"), ("CHANGE", "REPLICATION"), ("RESET", "MASTER"), ("RESET", "SLAVE"),
    ("RESET", "REPLICA"), ("RESET", "QUERY"), ("CACHE", "INDEX"), ("BACKUP", "STAGE"), ("BACKUP", "LOCK"),
    ("START", "SLAVE"), ("STOP", "SLAVE"), ("START", "REPLICA"), ("STOP", "REPLICA"), ("START", "ALL"),
    ("STOP", "ALL"), ("CREATE", "USER"), ("DROP", "USER"), ("ALTER", "USER"), ("RENAME", "USER"),
    ("CREATE", "ROLE"), ("DROP", "ROLE"), ("SET", "PASSWORD"), ("SET", "ROLE"), ("SET", "DEFAULT"),
    ("CREATE", "DATABASE"), ("DROP", "DATABASE"), ("ALTER", "DATABASE"), ("CREATE", "SCHEMA"),
    ("DROP", "SCHEMA"), ("ALTER", "SCHEMA"), ("CREATE", "SERVER"), ("ALTER", "SERVER"), ("DROP", "SERVER"),
    ("SET", "NAMES"), ("SET", "CHARACTER"), ("SET", "SQL_MODE"), ("SET", "SESSION"),
}  # fmt: skip
_SKIP = {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NATIONAL_STRING}


def defines_program(words: Sequence[str]) -> bool:
    """CREATE [OR REPLACE] [DEFINER = x] [AGGREGATE] PROCEDURE|FUNCTION|TRIGGER|EVENT, or ALTER EVENT."""
    if not words or words[0] not in ("CREATE", "ALTER"):
        return False
    return any(w in _PROGRAMS for w in words[1:8])


def check_program_body(tokens: Sequence[Token]) -> None:
    """Refuse a stored program whose body could run a statement the proxy refuses from clients."""
    words = [t.text.upper() if t.token_type not in _SKIP else "" for t in tokens]
    for i, word in enumerate(words):
        if not word:
            continue
        pair = (word, words[i + 1]) if i + 1 < len(words) else (word, "")
        if word in _REFUSED or pair in _REFUSED_PAIRS or word.startswith("@@GLOBAL"):
            shown = " ".join(p for p in pair if p)
            raise NotSupported(f"{shown} inside a stored program (it would run with the proxy's backend account)")
