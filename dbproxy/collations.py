"""How MariaDB compares strings, as sort keys a merge can order, group and deduplicate by.

Each supported collation turns a value into a key whose order and equality are the server's: a weight per
character (``*_general_ci`` and ``latin1_swedish_ci`` are one weight table each; ``*_unicode_ci`` is UCA 4.0.0,
primary weights, several per character for expansions such as 'ß' = 'ss'), compared with PAD SPACE (a shorter
string compares as if padded with spaces, so trailing spaces never matter). The weight tables in
``collation_tables/`` are read from a MariaDB server by ``scripts/collation-tables``. A collation not listed
here is refused (1235 naming it): merging by Python's own string order would answer differently.
"""

from __future__ import annotations

import functools
import re
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from dbproxy.errors import NotSupported

Key = str


class PadSpaceKey:
    """Sort keys that compare like MariaDB's PAD SPACE comparison of weight strings, as plain ``str`` (so the
    comparisons run in C).

    Each weight becomes one character: a weight below the space's (``space``) stays itself, one above it moves
    up by two, leaving three codes for the space. A shorter string compares as if followed by spaces forever,
    so where one string ends or has spaces and the other goes on, what decides is the other's next non-space
    weight against the space: a run of spaces inside a string becomes ``space`` or ``space + 2`` by the weight
    after it, and every key ends with ``space + 1`` (the endless padding). ``table`` maps characters (by code
    point, ``str.translate``) to their encoded weights, spaces to ``space + 1``; ``byte_table``, where weights
    allow, does the same for single bytes (``bytes.translate``: many times faster), used for ASCII values, or
    for every value when ``single_byte``."""

    __slots__ = ("above", "below", "byte_table", "decode", "end", "runs", "single_byte", "supplementary", "table")

    def __init__(
        self,
        table: Sequence[str] | Mapping[int, str],
        space: int,
        decode: Callable[[bytes], str],
        *,
        byte_table: bytes | None = None,
        single_byte: bool = False,
        supplementary: str | None = None,
    ) -> None:
        self.table = table
        self.below, self.end, self.above = chr(space), chr(space + 1), chr(space + 2)
        self.runs = re.compile(re.escape(self.end) + "+")
        self.decode = decode
        self.byte_table = byte_table
        self.single_byte = single_byte
        self.supplementary = supplementary  # the encoded weights of any character beyond ``table``

    def __call__(self, value: bytes) -> Key:
        if self.byte_table is not None and (self.single_byte or value.isascii()):
            encoded = value.translate(self.byte_table).decode("latin-1")
        else:
            text = self.decode(value)
            if self.supplementary is not None and _SUPPLEMENTARY.search(text):
                parts = _SUPPLEMENTARY.split(text)  # alternately BMP text and runs of other characters
                encoded = "".join(
                    part.translate(self.table) if i % 2 == 0 else self.supplementary * len(part)
                    for i, part in enumerate(parts)
                )
            else:
                encoded = text.translate(self.table)
        encoded = encoded.rstrip(self.end)
        if self.end in encoded:
            encoded = self.runs.sub(self._inner_spaces, encoded)
        return encoded + self.end

    def _inner_spaces(self, run: re.Match[str]) -> str:
        following = run.string[run.end()]  # never past the end: trailing spaces are stripped
        return (self.below if following < self.end else self.above) * (run.end() - run.start())


_SUPPLEMENTARY = re.compile("([\U00010000-\U0010ffff]+)")


def _encoder(space: int) -> Callable[[int], str]:
    def encoded(weight: int) -> str:
        return chr(weight if weight < space else weight + 1 if weight == space else weight + 2)

    return encoded


def _byte_table(encoded: list[str]) -> bytes | None:
    """The first 256 encoded weights as a bytes.translate table, when each is one character below 256."""
    if all(len(e) == 1 and ord(e) < 256 for e in encoded[:256]):
        return bytes(ord(e) for e in encoded[:256])
    return None


def _table(name: str) -> bytes:
    return zlib.decompress(resources.files("dbproxy.collation_tables").joinpath(f"{name}.bin").read_bytes())


def _utf8(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _latin1(value: bytes) -> str:
    return value.decode("latin-1")  # one character per byte: the tables are indexed by byte


_REPLACEMENT = 0xFFFD  # what MariaDB weighs a character outside the Basic Multilingual Plane as (non-_bin)


def _from_weights(
    weights: Sequence[Sequence[int]],
    space: int,
    decode: Callable[[bytes], str],
    *,
    single_byte: bool = False,
    supplementary: int | None = None,
) -> PadSpaceKey:
    encode = _encoder(space)
    table = ["".join(map(encode, w)) for w in weights]
    # for UTF-8 only ASCII values take the byte path: bytes above 127 are never looked up there
    byte_table = _byte_table(table if single_byte else table[:128] + ["\x00"] * 128)
    return PadSpaceKey(
        tuple(table),
        space,
        decode,
        byte_table=byte_table,
        single_byte=single_byte,
        supplementary=None if supplementary is None else encode(supplementary),
    )


@functools.cache
def _general_ci() -> PadSpaceKey:
    deltas = array("H", _table("general_ci"))
    deltas.byteswap()  # stored big-endian
    weights = [((cp + d) & 0xFFFF,) for cp, d in enumerate(deltas)]
    return _from_weights(weights, 0x20, _utf8, supplementary=_REPLACEMENT)


@functools.cache
def _unicode_ci() -> PadSpaceKey:
    data = _table("unicode_ci")
    weights: list[list[int]] = []
    pos = 0
    for _ in range(65536):
        n = data[pos]
        weights.append([int.from_bytes(data[pos + 1 + 2 * i : pos + 3 + 2 * i], "big") for i in range(n)])
        pos += 1 + 2 * n
    return _from_weights(weights, 0x0209, _utf8, supplementary=_REPLACEMENT)


@functools.cache
def _utf8_bin() -> PadSpaceKey:
    # The weight is the code point. Above 0xD7FF it stays itself: UTF-8 has no surrogates, so shifting
    # 0x21..0xD7FF up by two (the space codes' room) keeps the order without passing the last code point.
    return _from_weights([(c,) for c in range(0xD800)], 0x20, _utf8)


@functools.cache
def _latin1_swedish_ci() -> PadSpaceKey:
    weights = _table("latin1_swedish_ci")
    return _from_weights([(w,) for w in weights], weights[0x20], _latin1, single_byte=True)


@functools.cache
def _latin1_bin() -> PadSpaceKey:
    return _from_weights([(b,) for b in range(256)], 0x20, _latin1, single_byte=True)


@dataclass(frozen=True, slots=True)
class Collation:
    id: int
    name: str
    charset: str  # MariaDB's character set name
    key: Callable[[], PadSpaceKey]  # built on first use (the tables take a moment to load)


COLLATIONS = {
    c.id: c
    for c in (
        Collation(33, "utf8mb3_general_ci", "utf8mb3", _general_ci),
        Collation(45, "utf8mb4_general_ci", "utf8mb4", _general_ci),
        Collation(46, "utf8mb4_bin", "utf8mb4", _utf8_bin),
        Collation(83, "utf8mb3_bin", "utf8mb3", _utf8_bin),
        Collation(192, "utf8mb3_unicode_ci", "utf8mb3", _unicode_ci),
        Collation(224, "utf8mb4_unicode_ci", "utf8mb4", _unicode_ci),
        Collation(8, "latin1_swedish_ci", "latin1", _latin1_swedish_ci),
        Collation(47, "latin1_bin", "latin1", _latin1_bin),
    )
}

# names of collations that are refused, so the error can name them (MariaDB 10.11's ids)
_OTHER_NAMES = {
    5: "latin1_german1_ci", 15: "latin1_danish_ci", 31: "latin1_german2_ci", 48: "latin1_general_ci",
    49: "latin1_general_cs", 94: "latin1_spanish_ci", 11: "ascii_general_ci", 65: "ascii_bin",
    193: "utf8mb3_icelandic_ci", 209: "utf8mb3_vietnamese_ci", 213: "utf8mb3_unicode_520_ci",
    225: "utf8mb4_icelandic_ci", 226: "utf8mb4_latvian_ci", 227: "utf8mb4_romanian_ci",
    228: "utf8mb4_slovenian_ci", 229: "utf8mb4_polish_ci", 230: "utf8mb4_estonian_ci", 231: "utf8mb4_spanish_ci",
    232: "utf8mb4_swedish_ci", 233: "utf8mb4_turkish_ci", 234: "utf8mb4_czech_ci", 235: "utf8mb4_danish_ci",
    236: "utf8mb4_lithuanian_ci", 237: "utf8mb4_slovak_ci", 238: "utf8mb4_spanish2_ci", 239: "utf8mb4_roman_ci",
    240: "utf8mb4_persian_ci", 241: "utf8mb4_esperanto_ci", 242: "utf8mb4_hungarian_ci",
    243: "utf8mb4_sinhala_ci", 244: "utf8mb4_german2_ci", 245: "utf8mb4_croatian_mysql561_ci",
    246: "utf8mb4_unicode_520_ci", 247: "utf8mb4_vietnamese_ci", 1033: "utf8mb3_general_nopad_ci",
    1069: "utf8mb4_general_nopad_ci", 1070: "utf8mb4_nopad_bin", 1248: "utf8mb4_unicode_nopad_ci",
}  # fmt: skip


def collation_name(collation_id: int) -> str:
    known = COLLATIONS.get(collation_id)
    if known is not None:
        return known.name
    return _OTHER_NAMES.get(collation_id, f"collation number {collation_id}")


def sort_key(collation_id: int) -> Callable[[bytes], Key]:
    """The key function of a supported collation; any other is refused with 1235 naming it."""
    known = COLLATIONS.get(collation_id)
    if known is None:
        raise NotSupported(f"merging results from several shards by the collation {collation_name(collation_id)}")
    return known.key()
