"""How a session's settings change what MariaDB reads in a statement text, and the sqlglot dialect that reads
it the same way.

MariaDB's lexer depends on the session: ``sql_mode`` ANSI_QUOTES makes ``"x"`` a name instead of a string,
NO_BACKSLASH_ESCAPES makes ``\\`` an ordinary character inside strings, PIPES_AS_CONCAT makes ``||`` a string
concatenation, and the client character set decides which bytes a multibyte character may hold. The proxy
plans every statement with the dialect of the session's ``Reading`` (part of the plan cache's key), so the
statement it checks is the statement the backend will run.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from sqlglot.dialects.mysql import MySQL
from sqlglot.tokens import Token, Tokenizer

from dbproxy.errors import NotSupported

# what the proxy tells clients it is (the frontend's greeting says 10.11): executable comments are gated on it
SERVER_VERSION_ID = 101100

# Client character sets with multibyte characters whose second byte may be 0x5c (a backslash): a byte the
# proxy reads as an escape MariaDB reads as half of a character, hiding a quote (MySQL flags them
# "escape_with_backslash_is_dangerous").
DANGEROUS_CHARSETS = frozenset({"big5", "cp932", "gbk", "sjis", "gb18030"})
# their collation ids a handshake can carry (one byte)
DANGEROUS_COLLATIONS = {1: "big5", 84: "big5", 13: "sjis", 88: "sjis", 28: "gbk", 87: "gbk", 95: "cp932", 96: "cp932"}
# sql_mode flags that make MariaDB read statements with another grammar the proxy does not model
_UNMODELLED_MODES = ("ORACLE",)


class Reading(NamedTuple):
    """The session settings that change how a statement's text is read (a tuple: hashed in C on every plan
    cache lookup)."""

    ansi_quotes: bool = False
    no_backslash_escapes: bool = False
    pipes_as_concat: bool = False


DEFAULT_READING = Reading()


def reading_of_sql_mode(sql_mode: str) -> Reading:
    """The reading a session's ``@@sql_mode`` implies (MariaDB spells combination modes out: ANSI includes
    ANSI_QUOTES and PIPES_AS_CONCAT); a mode the proxy cannot read statements under is refused."""
    flags = {f.strip().upper() for f in sql_mode.split(",") if f.strip()}
    for mode in _UNMODELLED_MODES:
        if mode in flags:
            raise NotSupported(f"sql_mode {mode} (the proxy reads statements in MariaDB's default grammar)")
    return Reading(
        ansi_quotes="ANSI_QUOTES" in flags or "ANSI" in flags,
        no_backslash_escapes="NO_BACKSLASH_ESCAPES" in flags,
        pipes_as_concat="PIPES_AS_CONCAT" in flags or "ANSI" in flags,
    )


def check_client_charset(name: str) -> None:
    """Refuse a client character set (or a collation of one) whose multibyte characters can contain a
    backslash byte."""
    charset = name.strip("'\"` ").lower().split("_")[0]
    if charset in DANGEROUS_CHARSETS:
        raise NotSupported(
            f"client character set {charset} (its multibyte characters can contain 0x5c, which reads as a "
            "backslash; use utf8mb4)"
        )


def _tokenizer_class(reading: Reading) -> type[MySQL.Tokenizer]:
    attrs: dict[str, object] = {
        # sqlglot swallows everything after CALL, RENAME, REPLACE, EXECUTE ... into one string token; the proxy
        # must see every name in every statement (confinement, renames), so nothing is swallowed
        "COMMANDS": set(),
    }
    if reading.no_backslash_escapes:
        attrs["STRING_ESCAPES"] = ["'"]
    if reading.ansi_quotes:
        attrs["QUOTES"] = ["'"]
        attrs["IDENTIFIERS"] = ["`", '"']
    return type("Tokenizer", (MySQL.Tokenizer,), attrs)


@functools.cache
def dialect_for(reading: Reading) -> MySQL:
    """A MySQL dialect that tokenizes, parses and generates SQL as MariaDB does under ``reading``."""
    flags = "".join(str(int(f)) for f in (reading.ansi_quotes, reading.no_backslash_escapes, reading.pipes_as_concat))
    cls = type(
        f"MariaDBReading{flags}",
        (MySQL,),
        {
            "Tokenizer": _tokenizer_class(reading),
            "DPIPE_IS_STRING_CONCAT": reading.pipes_as_concat,
        },
    )
    return cls()


@functools.cache
def _tokenizer(reading: Reading) -> Tokenizer:
    dialect = dialect_for(reading)
    return dialect.tokenizer_class(dialect=dialect)


def tokenize_as(sql: str, reading: Reading) -> list[Token]:
    return _tokenizer(reading).tokenize(sql)
