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
import zlib
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

from dbproxy.errors import NotSupported

Key = tuple[int, ...]


def pad_space_key(weights: Sequence[int], space: int) -> Key:
    """A key comparing like MariaDB's PAD SPACE comparison of two weight strings.

    A shorter string is compared as if followed by spaces forever, so where one string ends or has spaces and
    the other goes on, what decides is the other's next weight that is not a space, against the space. Each
    weight becomes a pair: (weight - space, 0), or for a space (0, sign of the next non-space weight after
    it); the end is (0, 0). Tuples of such pairs compare exactly as the padded strings do."""
    n = len(weights)
    while n and weights[n - 1] == space:
        n -= 1
    out = [0] * (2 * n + 2)
    following = 0
    for i in range(n - 1, -1, -1):
        d = weights[i] - space
        if d:
            out[2 * i] = d
            following = 1 if d > 0 else -1
        else:
            out[2 * i + 1] = following
    return tuple(out)


def _table(name: str) -> bytes:
    return zlib.decompress(resources.files("dbproxy.collation_tables").joinpath(f"{name}.bin").read_bytes())


@functools.cache
def _general_ci() -> array[int]:
    data = _table("general_ci")
    deltas = array("H", data)
    deltas.byteswap()  # stored big-endian
    return array("H", [(cp + d) & 0xFFFF for cp, d in enumerate(deltas)])


@functools.cache
def _unicode_ci() -> tuple[tuple[int, ...], ...]:
    data = _table("unicode_ci")
    out: list[tuple[int, ...]] = []
    pos = 0
    for _ in range(65536):
        n = data[pos]
        pos += 1
        out.append(tuple(int.from_bytes(data[pos + 2 * i : pos + 2 * i + 2], "big") for i in range(n)))
        pos += 2 * n
    return tuple(out)


@functools.cache
def _latin1_swedish_ci() -> bytes:
    return _table("latin1_swedish_ci")


_REPLACEMENT = 0xFFFD  # what MariaDB weighs a character outside the Basic Multilingual Plane as (non-_bin)


def _general_ci_key(value: bytes) -> Key:
    table = _general_ci()
    text = value.decode("utf-8", "replace")
    return pad_space_key([table[c] if c < 65536 else _REPLACEMENT for c in map(ord, text)], 0x20)


def _unicode_ci_key(value: bytes) -> Key:
    table = _unicode_ci()
    weights: list[int] = []
    for c in map(ord, value.decode("utf-8", "replace")):
        weights.extend(table[c] if c < 65536 else (_REPLACEMENT,))
    return pad_space_key(weights, 0x0209)


def _utf8_bin_key(value: bytes) -> Key:
    return pad_space_key([ord(c) for c in value.decode("utf-8", "replace")], 0x20)


def _latin1_swedish_ci_key(value: bytes) -> Key:
    table = _latin1_swedish_ci()
    return pad_space_key([table[b] for b in value], table[0x20])


def _latin1_bin_key(value: bytes) -> Key:
    return pad_space_key(value, 0x20)


@dataclass(frozen=True, slots=True)
class Collation:
    id: int
    name: str
    charset: str  # MariaDB's character set name
    key: Callable[[bytes], Key]


COLLATIONS = {
    c.id: c
    for c in (
        Collation(33, "utf8mb3_general_ci", "utf8mb3", _general_ci_key),
        Collation(45, "utf8mb4_general_ci", "utf8mb4", _general_ci_key),
        Collation(46, "utf8mb4_bin", "utf8mb4", _utf8_bin_key),
        Collation(83, "utf8mb3_bin", "utf8mb3", _utf8_bin_key),
        Collation(192, "utf8mb3_unicode_ci", "utf8mb3", _unicode_ci_key),
        Collation(224, "utf8mb4_unicode_ci", "utf8mb4", _unicode_ci_key),
        Collation(8, "latin1_swedish_ci", "latin1", _latin1_swedish_ci_key),
        Collation(47, "latin1_bin", "latin1", _latin1_bin_key),
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
    return known.key
