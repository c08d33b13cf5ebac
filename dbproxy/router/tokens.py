"""Token-level rewriting: rename tables and drop logical database qualifiers in the original statement text.

Working on tokens keeps the client's SQL exactly as written (comments, MariaDB syntax sqlglot would re-spell)
except for the names that must change; the AST is only used to decide what to rename.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot.tokens import Token, TokenType

from dbproxy.router.dialects import DEFAULT_READING, Reading, tokenize_as
from dbproxy.router.template import PARAM_PREFIX, Template

_NAME_TYPES = {TokenType.VAR, TokenType.IDENTIFIER}


def tokenize(sql: str, reading: Reading = DEFAULT_READING) -> list[Token]:
    """The statement's tokens as the session reads it (sql_mode ANSI_QUOTES, NO_BACKSLASH_ESCAPES)."""
    return tokenize_as(sql, reading)


def mark_params(sql: str, tokens: Sequence[Token]) -> tuple[str, int]:
    """Replace each ``?`` with a column named ``__dbp_pN__`` so sqlglot keeps its position; returns (sql, count)."""
    out: list[str] = []
    pos = 0
    n = 0
    for tok in tokens:
        if tok.token_type == TokenType.PLACEHOLDER and tok.text == "?":
            out.append(sql[pos : tok.start])
            out.append(f"{PARAM_PREFIX}{n}__")
            n += 1
            pos = tok.end + 1
    out.append(sql[pos:])
    return "".join(out), n


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def param_indexes(tokens: Sequence[Token]) -> dict[int, int]:
    """Token index -> parameter number for every ``?``."""
    out: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.PLACEHOLDER and tok.text == "?":
            out[i] = len(out)
    return out


def rewrite(
    sql: str,
    tokens: Sequence[Token],
    renames: dict[str, str],
    strip_dbs: frozenset[str] | set[str],
    *,
    start: int = 0,
    end: int | None = None,
    params: dict[int, int] | None = None,
    named: dict[int, str] | None = None,
    strings: dict[str, str] | None = None,
    derived: dict[tuple[str, str], str] | None = None,
) -> Template:
    """Template of ``tokens[start:end]`` with tables renamed (lower-case logical -> physical), qualifiers in
    ``strip_dbs`` removed, ``?`` turned into parameter slots and tokens listed in ``named`` into named slots;
    ``derived`` replaces ``schema.table`` (lower-case pair) with a parenthesised query aliased as the table."""
    end = len(tokens) if end is None else end
    params = param_indexes(tokens) if params is None else params
    parts: list[str] = []
    slots: list[int | str] = []
    cur: list[str] = []
    text_pos = tokens[start].start if start < len(tokens) else len(sql)
    i = start
    stripped = False
    while i < end:
        tok = tokens[i]
        cur.append(sql[text_pos : tok.start])
        text_pos = tok.end + 1
        prev_dot = i > 0 and tokens[i - 1].token_type == TokenType.DOT and not stripped
        stripped = False
        if named and i in named:
            parts.append("".join(cur))
            cur = []
            slots.append(named[i])
        elif i in params:
            parts.append("".join(cur))
            cur = []
            slots.append(params[i])
        elif tok.token_type in _NAME_TYPES and not prev_dot:
            low = tok.text.lower()
            nxt_dot = i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.DOT
            if derived and nxt_dot and i + 2 < end and tokens[i + 2].token_type in _NAME_TYPES:
                replacement = derived.get((low, tokens[i + 2].text.lower()))
                if replacement is not None:
                    after = tokens[i + 3] if i + 3 < len(tokens) else None
                    aliased = after is not None and (
                        after.token_type in _NAME_TYPES or after.token_type == TokenType.ALIAS
                    )
                    cur.append(replacement if aliased else f"{replacement} AS {quote(tokens[i + 2].text)}")
                    text_pos = tokens[i + 2].end + 1
                    i += 3
                    continue
            if low in strip_dbs and nxt_dot:
                text_pos = tokens[i + 1].end + 1  # drop "db."
                i += 2
                stripped = True
                continue
            if low in renames:
                cur.append(quote(renames[low]))
            else:
                cur.append(sql[tok.start : tok.end + 1])
        elif strings and tok.token_type == TokenType.STRING and tok.text in strings:
            cur.append("'" + strings[tok.text] + "'")
        else:
            cur.append(sql[tok.start : tok.end + 1])
        i += 1
    if end >= len(tokens):
        cur.append(sql[text_pos:])
    parts.append("".join(cur))
    return Template(tuple(parts), tuple(slots))


def names_in(tokens: Sequence[Token]) -> list[str]:
    """Lower-case names of all identifier tokens."""
    return [tok.text.lower() for tok in tokens if tok.token_type in _NAME_TYPES]
