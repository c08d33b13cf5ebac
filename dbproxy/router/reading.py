"""Reading a statement's text the way MariaDB 10.11 will, before anything is checked.

Two things make the text the proxy checks differ from what MariaDB runs, and both are settled here, once per
distinct statement (the plan cache keeps the result):

- **Executable comments.** ``/*! ... */``, ``/*!NNNNN ... */``, ``/*M! ... */`` and ``/*M!NNNNNN ... */`` are
  code to MariaDB when their version is at most the server's (MySQL-only versions 50700-99999 are skipped
  unless marked ``M!``). They are expanded here exactly as MariaDB's lexer does: the markers of a comment that
  runs become spaces and its content becomes part of the statement; one that does not run becomes spaces. The
  expanded text is what gets checked and what is sent, so the backend never sees an executable comment.
  Plain comments (sqlcommenter's ``/*traceparent='...'*/`` among them) stay as written.
- **The lexer's settings.** sqlglot's tokens are compared with this module's model of MariaDB's lexer (strings,
  quoted names and comments under the session's ``Reading``): every string and quoted name must start and end
  where MariaDB's does and every character MariaDB reads as code must be inside one of sqlglot's tokens. A
  statement the two read differently is refused (1064) instead of being checked one way and run another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported, ParseError
from dbproxy.router.dialects import SERVER_VERSION_ID, Reading

_WHITESPACE = " \t\n\r\x0b\x0c"
_SPACE = frozenset(_WHITESPACE)
_DIGITS = frozenset("0123456789")
_STRING_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.HEX_STRING,
        TokenType.BIT_STRING,
        TokenType.BYTE_STRING,
        TokenType.RAW_STRING,
    }
)
_QUOTED = frozenset({"'", '"', "`"})
_SPECIAL = re.compile(r"['\"`#/*-]")


@dataclass(frozen=True, slots=True)
class ReadText:
    """A statement as MariaDB reads it: ``text`` with executable comments expanded (same length and offsets as
    the original), its quoted spans (start, end inclusive, is-a-name) and its comments (start, end inclusive)."""

    text: str
    quoted: tuple[tuple[int, int, bool], ...]
    comments: tuple[tuple[int, int], ...]
    plain: bool = False  # no quote, comment or dash in the text: nothing two lexers could read differently


def _syntax(message: str) -> ParseError:
    return ParseError(f"You have an error in your SQL syntax: {message}")


def _close_quote(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index of the quote closing the literal opened at ``i`` (a doubled quote continues it)."""
    n = len(sql)
    j = i + 1
    while j < n:
        c = sql[j]
        if c == "\\" and backslash:
            j += 2
            continue
        if c == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j
        j += 1
    raise _syntax(f"unterminated {'name' if quote == '`' else 'string'} starting at offset {i}")


def _comment_end(sql: str, i: int, nesting: int) -> int:
    """Index of the ``/`` closing a comment whose body starts at ``i`` (MariaDB's consume_comment: a skipped
    versioned comment may hold one plain comment, a plain one none)."""
    n = len(sql)
    j = i
    while j < n:
        c = sql[j]
        if nesting > 0 and c == "/" and j + 1 < n and sql[j + 1] == "*":
            j = _comment_end(sql, j + 2, nesting - 1) + 1
            continue
        if c == "*" and j + 1 < n and sql[j + 1] == "/":
            return j + 1
        j += 1
    raise _syntax(f"unterminated comment starting at offset {i - 2}")


def read_text(sql: str, reading: Reading, version: int = SERVER_VERSION_ID) -> ReadText:
    """MariaDB's lexical reading of ``sql`` (see the module docstring); 1064 for unterminated literals or
    comments, 1235 for a comment opened inside an executable comment."""
    if not any(c in sql for c in "'\"`#-/"):
        return ReadText(sql, (), (), plain=True)
    out: list[str] | None = None
    quoted: list[tuple[int, int, bool]] = []
    comments: list[tuple[int, int]] = []
    n = len(sql)
    i = 0
    executing = -1  # start of the executable comment whose content is being read, or -1
    while i < n:
        c = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if c in _QUOTED:
            is_name = c == "`" or (c == '"' and reading.ansi_quotes)
            end = _close_quote(sql, i, c, backslash=not is_name and not reading.no_backslash_escapes)
            quoted.append((i, end, is_name))
            i = end + 1
        elif c == "#" or (c == "-" and nxt == "-" and (i + 2 >= n or sql[i + 2] in _SPACE or sql[i + 2] < " ")):
            end = sql.find("\n", i)
            end = n - 1 if end < 0 else end
            comments.append((i, end))
            i = end + 1
        elif c == "/" and nxt == "*":
            if executing >= 0:
                raise NotSupported("a comment inside an executable comment (/*! ... /* ... */ ... */)")
            marker = 3 if sql.startswith("/*!", i) else 4 if sql.startswith("/*M!", i) else 0
            if not marker:
                end = _comment_end(sql, i + 2, 0)
                comments.append((i, end))
                i = end + 1
                continue
            digits = 0
            if all(ch in _DIGITS for ch in sql[i + marker : i + marker + 5]) and i + marker + 5 <= n:
                digits = 6 if i + marker + 5 < n and sql[i + marker + 5] in _DIGITS else 5
            runs = True
            if digits:
                wanted = int(sql[i + marker : i + marker + digits])
                runs = wanted <= version and (wanted < 50700 or wanted > 99999 or marker == 4)
            out = out if out is not None else list(sql)
            if runs:
                out[i : i + marker + digits] = " " * (marker + digits)
                executing = i
                i += marker + digits
            else:
                end = _comment_end(sql, i + marker + digits, 1)
                out[i : end + 1] = [ch if ch == "\n" else " " for ch in sql[i : end + 1]]
                i = end + 1
        elif c == "*" and nxt == "/" and executing >= 0:
            assert out is not None
            out[i : i + 2] = "  "
            executing = -1
            i += 2
        else:
            found = _SPECIAL.search(sql, i + 1)  # plain code up to the next character that may start something
            i = found.start() if found is not None else n
    if executing >= 0:
        raise _syntax(f"unterminated executable comment starting at offset {executing}")
    return ReadText("".join(out) if out is not None else sql, tuple(quoted), tuple(comments))


def verify_tokens(read: ReadText, tokens: Sequence[Token]) -> None:
    """Refuse (1064) a statement whose sqlglot tokens disagree with MariaDB's reading of it."""
    text = read.text
    if read.plain:
        return
    by_end: dict[int, Token] = {}
    spans: list[tuple[int, int]] = []  # what sqlglot read as code, then MariaDB's comments: all but whitespace
    for tok in tokens:
        kind = tok.token_type
        if kind == TokenType.HINT:
            continue  # /*+ ... */: one token to sqlglot, a comment to MariaDB 10.11 (in read.comments below)
        spans.append((tok.start, tok.end))
        if kind in _STRING_TOKENS or kind == TokenType.IDENTIFIER:
            by_end[tok.end] = tok
    for start, end, is_name in read.quoted:
        found = by_end.pop(end) if end in by_end else None
        if (
            found is None
            or found.start > start
            or (found.start != start and not text[found.start : start].isalpha())
            or (found.token_type == TokenType.IDENTIFIER) != is_name
        ):
            raise _disagree(start)
    if by_end:
        raise _disagree(min(t.start for t in by_end.values()))
    spans.extend(c for c in read.comments)
    spans.sort()
    reached = 0  # everything before this offset is covered or whitespace
    for start, end in spans:
        if start < reached:
            raise _disagree(start)  # a token inside a comment (or overlapping another token)
        if text[reached:start].strip(_WHITESPACE):
            raise _disagree(reached)  # code MariaDB reads that sqlglot took for a comment
        reached = end + 1
    if text[reached:].strip(_WHITESPACE):
        raise _disagree(reached)


def _disagree(offset: int) -> ParseError:
    return _syntax(f"the statement reads differently to dbproxy and to MariaDB near offset {offset}; rewrite it")
