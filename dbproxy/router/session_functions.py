"""Functions whose answer belongs to the client's session, not to the backend connection that runs the
statement: ``DATABASE()``/``SCHEMA()`` (the logical database, never the physical one), ``USER()``,
``SESSION_USER()``, ``SYSTEM_USER()``, ``CURRENT_USER()`` (the proxy user, never the backend account) and
``CONNECTION_ID()`` (the proxy's connection id).

Alone in a select list the proxy answers them itself (``SessionValues``). Anywhere else, the statement is sent
with their values written in their place: the logical database as a literal when the statement is planned (the
plan cache is keyed by database), the user and the connection id as named slots of the statement's templates
that every execution fills from the session (``slot_values``). A bare select item keeps its column name.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot.tokens import Token, TokenType

from dbproxy.protocol.params import sql_literal
from dbproxy.router.template import Template

USER_SLOT = "__dbp_user__"
CURRENT_USER_SLOT = "__dbp_current_user__"
CONNECTION_SLOT = "__dbp_conn__"
SLOTS = (USER_SLOT, CURRENT_USER_SLOT, CONNECTION_SLOT)
RESERVED_PREFIX = "__dbp_"

_CALLS = {
    "database": "database",
    "schema": "database",
    "user": USER_SLOT,
    "session_user": USER_SLOT,
    "system_user": USER_SLOT,
    "current_user": CURRENT_USER_SLOT,
    "connection_id": CONNECTION_SLOT,
}
_ITEM_END = {TokenType.COMMA, TokenType.FROM, TokenType.SEMICOLON, TokenType.INTO}


def _calls(tokens: Sequence[Token]) -> list[tuple[int, int, str]]:
    """(first token, last token, what it is) of each call; ``CURRENT_USER`` may come without parentheses."""
    out: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens):
        what = _CALLS.get(tok.text.lower())
        if what is None or tok.token_type in (TokenType.STRING, TokenType.IDENTIFIER):
            continue
        if i > 0 and tokens[i - 1].token_type == TokenType.DOT:
            continue  # a column or a function of some schema, not the built-in
        parens = (
            i + 2 < len(tokens)
            and tokens[i + 1].token_type == TokenType.L_PAREN
            and tokens[i + 2].token_type == TokenType.R_PAREN
        )
        if parens:
            out.append((i, i + 2, what))
        elif what == CURRENT_USER_SLOT and not (i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN):
            out.append((i, i, what))
    return out


def substitute(sql: str, tokens: Sequence[Token], database: str | None) -> str | None:
    """``sql`` with each session function replaced by its value (the database) or its slot; None when it
    has none."""
    calls = _calls(tokens)
    if not calls:
        return None
    selecting = bool(tokens) and tokens[0].token_type == TokenType.SELECT
    out: list[str] = []
    pos = 0
    for first, last, what in calls:
        start, end = tokens[first].start, tokens[last].end + 1
        value = (sql_literal(database.encode()) if database is not None else "NULL") if what == "database" else what
        before = tokens[first - 1].token_type if first > 0 else None
        after = tokens[last + 1].token_type if last + 1 < len(tokens) else None
        if selecting and before in (TokenType.SELECT, TokenType.COMMA) and (after is None or after in _ITEM_END):
            # a bare select item: MariaDB names its column by the expression as written
            value += " AS `" + sql[start:end].replace("`", "``") + "`"
        out.append(sql[pos:start])
        out.append(value)
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def with_slots(template: Template) -> Template:
    """The template with the session slots ``substitute`` wrote turned into named slots."""
    parts: list[str] = []
    slots: list[int | str] = []
    for i, part in enumerate(template.parts):
        pieces, names = _split_in_order(part)
        for piece, name in zip(pieces, names, strict=False):
            parts.append(piece)
            slots.append(name)
        parts.append(pieces[-1])
        if i < len(template.slots):
            slots.append(template.slots[i])
    return Template(tuple(parts), tuple(slots))


def _split_in_order(text: str) -> tuple[list[str], list[str]]:
    parts: list[str] = []
    names: list[str] = []
    pos = 0
    while True:
        found = [(text.find(s, pos), s) for s in SLOTS]
        hits = [(at, s) for at, s in found if at >= 0]
        if not hits:
            parts.append(text[pos:])
            return parts, names
        at, slot = min(hits)
        parts.append(text[pos:at])
        names.append(slot)
        pos = at + len(slot)


def slot_values(user: str, host: str, conn_id: int) -> dict[str, str]:
    """What a session's slots hold: MariaDB's spelling of the user (``user@host``; ``user@%`` for the
    account, as CURRENT_USER() names the grant that matched) and the proxy's connection id."""
    return {
        USER_SLOT: sql_literal(f"{user}@{host}".encode()),
        CURRENT_USER_SLOT: sql_literal(f"{user}@%".encode()),
        CONNECTION_SLOT: str(conn_id),
    }
