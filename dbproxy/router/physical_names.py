"""Physical names never reach a client: column definitions and error messages that backends send name the
physical database (``shop_0``) and shard tables (``orders_1``); the client sees the logical ones (``shop``,
``orders``).

A column definition is rewritten field by field (schema, table, org_table); an error message (and a text
value, such as an EXPLAIN row's table) has each physical name that stands as a whole word replaced. Both work
on one packet in place in a relay buffer (``rewrite_column``/``rewrite_error`` return the packet's new end), so
the relay keeps copying bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dbproxy.protocol.packets import lenenc_int, read_lenenc


@dataclass(frozen=True)
class BackendAccounts:
    """The accounts the proxy logs in to backends with: an error a backend sends names one (``INSERT command
    denied to user 'txc_app'@'10.0.0.5'``); the client sees its own proxy user and address instead."""

    names: frozenset[str]
    _pattern: re.Pattern[str] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.names:
            alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            object.__setattr__(self, "_pattern", re.compile(r"'(?:" + alternatives + r")'@'[^']*'"))

    def hidden(self, message: str, user: str, host: str) -> str:
        """``message`` with every ``'account'@'host'`` of a backend account replaced by ``'user'@'host'``."""
        if self._pattern is None or "'@'" not in message:
            return message
        return self._pattern.sub(lambda _: f"'{user}'@'{host}'", message)


@dataclass(frozen=True)
class PhysicalNames:
    """Physical -> logical names of one logical database (exact bytes as the backends spell them)."""

    databases: dict[bytes, bytes]
    tables: dict[bytes, bytes]
    accounts: BackendAccounts = field(default_factory=lambda: BackendAccounts(frozenset()))
    _pattern: re.Pattern[bytes] | None = field(init=False, default=None, repr=False)
    # column definition -> its logical form (None: unchanged); a statement's columns repeat on every execution
    _columns: dict[bytes, bytes | None] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        words = sorted({*self.databases, *self.tables}, key=len, reverse=True)
        if words:
            alternatives = b"|".join(re.escape(w) for w in words)
            pattern = re.compile(rb"(?<![\w$])(" + alternatives + rb")(?![\w$])")
            object.__setattr__(self, "_pattern", pattern)

    def column_definition(self, payload: bytes | bytearray | memoryview) -> bytes | None:
        """The column definition with logical schema and table names, or None when it names none."""
        pos = 0
        fields: list[bytes] = []
        for _ in range(4):  # catalog, schema, table, org_table
            length, start = read_lenenc(payload, pos)
            length = length or 0
            fields.append(bytes(payload[start : start + length]))
            pos = start + length
        catalog, schema, table, org_table = fields
        logical_schema = self.databases.get(schema)
        logical_table = self.tables.get(table)
        logical_org = self.tables.get(org_table)
        if logical_schema is None and logical_table is None and logical_org is None:
            return None
        return b"".join(
            (
                lenenc_int(len(catalog)) + catalog,
                _lenenc(logical_schema if logical_schema is not None else schema),
                _lenenc(logical_table if logical_table is not None else table),
                _lenenc(logical_org if logical_org is not None else org_table),
                bytes(payload[pos:]),
            )
        )

    def error_message(self, message: str, identity: tuple[str, str] | None = None) -> str:
        """An error's text with physical names replaced (and backend accounts by ``identity``: user, host)."""
        if identity is not None:
            message = self.accounts.hidden(message, *identity)
        if self._pattern is None:
            return message
        raw = message.encode("utf-8", "surrogateescape")
        return self._pattern.sub(self._logical, raw).decode("utf-8", "surrogateescape")

    def text(self, value: bytes) -> bytes:
        """A text value of an answer (an EXPLAIN row's table, its JSON plan) with physical names replaced."""
        if self._pattern is None:
            return value
        return self._pattern.sub(self._logical, value)

    def _logical(self, match: re.Match[bytes]) -> bytes:
        word = match.group(1)
        return self.databases.get(word) or self.tables.get(word) or word

    def rewrite_column(self, buf: bytearray, pos: int, end: int) -> int:
        """Rewrite the column-definition packet at ``buf[pos:end]`` (header included) in place; its new end."""
        original = bytes(buf[pos + 4 : end])
        cache = self._columns
        if original in cache:
            payload = cache[original]
        else:
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            payload = cache[original] = self.column_definition(original)
        return end if payload is None else _replace(buf, pos, end, payload)

    def rewrite_error(self, buf: bytearray, pos: int, end: int, identity: tuple[str, str] | None = None) -> int:
        """Rewrite the ERR packet at ``buf[pos:end]`` in place (backend accounts by ``identity``); its new end."""
        if self._pattern is None and identity is None:
            return end
        start = pos + 4 + 3 + (6 if buf[pos + 7 : pos + 8] == b"#" else 0)  # 0xff, code, [#sqlstate]
        text = bytes(buf[start:end])
        new = text
        if identity is not None:
            message = text.decode("utf-8", "surrogateescape")
            new = self.accounts.hidden(message, *identity).encode("utf-8", "surrogateescape")
        if self._pattern is not None:
            new = self._pattern.sub(self._logical, new)
        if new == text:
            return end
        return _replace(buf, pos, end, bytes(buf[pos + 4 : start]) + new)


_MAX_CACHED = 8192


def _lenenc(value: bytes) -> bytes:
    return lenenc_int(len(value)) + value


def _replace(buf: bytearray, pos: int, end: int, payload: bytes) -> int:
    n = len(payload)
    buf[pos:end] = bytes((n & 0xFF, (n >> 8) & 0xFF, n >> 16, buf[pos + 3])) + payload
    return pos + 4 + n
