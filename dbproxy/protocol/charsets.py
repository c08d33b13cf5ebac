"""Character sets as the protocol names them (collation ids) and converting text between them: a merged
result is fetched in each column's own character set (so its metadata names the column's collation) and sent
to the client in the session's."""

from __future__ import annotations

import codecs

# character set -> its default collation id (what a handshake carries)
CHARSET_COLLATIONS = {
    "big5": 1, "latin2": 9, "ascii": 11, "ujis": 12, "sjis": 13, "hebrew": 16, "euckr": 19, "gb2312": 24,
    "greek": 25, "cp1250": 26, "gbk": 28, "latin5": 30, "utf8": 33, "utf8mb3": 33, "ucs2": 35, "cp866": 36,
    "latin7": 41, "utf8mb4": 45, "cp1251": 51, "utf16": 54, "cp1256": 57, "cp1257": 59, "utf32": 60,
    "binary": 63, "latin1": 8, "koi8r": 7, "cp850": 4, "swe7": 10,
}  # fmt: skip
_DEFAULTS = {v: k for k, v in CHARSET_COLLATIONS.items() if k != "utf8"}
UTF8_COLLATIONS = frozenset({33, 45, 46, 83, 255, *range(192, 216), *range(224, 248), *range(576, 580)})
_LATIN1_COLLATIONS = frozenset({5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071})
MAX_BYTES = {"utf8mb4": 4, "utf8mb3": 3, "ucs2": 2, "utf16": 4, "utf32": 4, "big5": 2, "gbk": 2, "sjis": 2}

# MariaDB's latin1 is Windows-1252 with the five bytes it leaves undefined kept as the C1 controls
_LATIN1_DECODE = "".join(bytes((b,)).decode("cp1252", "ignore") or chr(b) for b in range(256))
_LATIN1_ENCODE = {ord(ch): b for b, ch in enumerate(_LATIN1_DECODE)}
_CODECS = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "big5": "big5", "gbk": "gbk", "sjis": "shift_jis", "ujis": "euc_jp",
    "euckr": "euc_kr", "gb2312": "gb2312", "latin2": "iso8859_2", "greek": "iso8859_7", "hebrew": "iso8859_8",
    "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257", "cp866": "cp866",
    "cp850": "cp850", "koi8r": "koi8_r", "latin5": "iso8859_9", "latin7": "iso8859_13", "ascii": "ascii",
    "ucs2": "utf-16-be", "utf16": "utf-16-be", "utf32": "utf-32-be",
}  # fmt: skip


def charset_of(collation_id: int) -> str | None:
    """The character set of a collation id; None when the proxy does not know it."""
    if collation_id in UTF8_COLLATIONS:
        return "utf8mb3" if collation_id in (33, 83) or 192 <= collation_id < 216 else "utf8mb4"
    if collation_id in _LATIN1_COLLATIONS:
        return "latin1"
    return _DEFAULTS.get(collation_id)


def can_convert(charset: str | None) -> bool:
    return charset in ("latin1", "binary") or charset in _CODECS


def decode(value: bytes, charset: str) -> str:
    if charset == "latin1":
        return value.decode("latin-1").translate(_LATIN1_DECODE_MAP)
    return value.decode(_CODECS[charset], "replace")


def encode(text: str, charset: str) -> bytes:
    """``text`` in ``charset``; a character it lacks becomes '?', as MariaDB converts."""
    if charset == "latin1":
        return bytes(_LATIN1_ENCODE.get(ord(ch), 0x3F) for ch in text)
    return codecs.encode(text, _CODECS[charset], "replace")


def convert(value: bytes, source: str, target: str) -> bytes:
    """``value`` from character set ``source`` to ``target`` (binary on either side: unchanged)."""
    if source == target or source == "binary" or target == "binary" or value.isascii():
        return value
    if {source, target} <= {"utf8mb4", "utf8mb3"}:
        return value
    return encode(decode(value, source), target)


_LATIN1_DECODE_MAP = {b: ch for b, ch in enumerate(_LATIN1_DECODE) if chr(b) != ch}
