"""Sort keys that compare as MariaDB's collations do, and the refusal of the others."""

from __future__ import annotations

import itertools

import pytest

from dbproxy.collations import COLLATIONS, PadSpaceKey, sort_key
from dbproxy.errors import NotSupported
from dbproxy.merge import Item, MergeSpec, merge_results
from dbproxy.protocol.charsets import convert
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column, parse_column

GENERAL, UNICODE, BIN, LATIN1 = 45, 224, 46, 8


def _padded_compare(a: list[int], b: list[int], space: int) -> int:
    """PAD SPACE by definition: the shorter weight string padded with spaces, then compared."""
    n = max(len(a), len(b))
    pa, pb = a + [space] * (n - len(a)), b + [space] * (n - len(b))
    return (pa > pb) - (pa < pb)


def test_pad_space_keys_order_exactly_as_padded_comparison() -> None:
    weights = {"a": 1, "b": 5, "c": 9}  # below, at and above the space weight 5
    table = {ord(ch): chr(w if w < 5 else w + 1 if w == 5 else w + 2) for ch, w in weights.items()}
    key = PadSpaceKey(table, 5, lambda v: v.decode())
    strings = ["".join(s) for n in range(5) for s in itertools.product("abc", repeat=n)]
    for a, b in itertools.product(strings, repeat=2):
        ka, kb = key(a.encode()), key(b.encode())
        want = _padded_compare([weights[c] for c in a], [weights[c] for c in b], 5)
        assert ((ka > kb) - (ka < kb)) == want, (a, b)


@pytest.mark.parametrize("collation", [GENERAL, BIN])
def test_the_byte_fast_path_gives_the_keys_of_the_general_one(collation: int) -> None:
    fast = COLLATIONS[collation].key()
    assert fast.byte_table is not None
    general = PadSpaceKey(fast.table, ord(fast.below), fast.decode)  # the same tables, no byte path
    values = ["a b", "ab ", "A\tb", "zz  z", "", " ", "~!{", "Hello, World", "a\x00 b", "\x7f x"]
    for value in values + [chr(c) for c in range(128)]:
        assert fast(value.encode()) == general(value.encode()), repr(value)


@pytest.mark.parametrize(
    ("collation", "equal", "ordered"),
    [
        (GENERAL, [("é", "e"), ("E", "e"), ("e  ", "e"), ("ß", "s"), ("😀", "😃")], [("a\t", "a"), ("a", "b")]),
        (UNICODE, [("é", "e"), ("ß", "ss"), ("Å", "a"), ("e ", "e")], [("a", "ab"), ("e", "f")]),
        (BIN, [("a ", "a")], [("A", "a"), ("e", "é"), ("a\t", "a")]),
    ],
)
def test_utf8_collations(collation: int, equal: list[tuple[str, str]], ordered: list[tuple[str, str]]) -> None:
    key = sort_key(collation)
    for a, b in equal:
        assert key(a.encode()) == key(b.encode()), (a, b)
    for a, b in ordered:
        assert key(a.encode()) < key(b.encode()), (a, b)


def test_latin1_swedish_ci_sorts_swedish_letters_after_z() -> None:
    key = sort_key(LATIN1)
    assert key("é".encode("cp1252")) == key(b"E")
    for letter in "åäö":
        assert key(letter.encode("cp1252")) > key(b"z")


def test_another_collation_is_refused_by_name() -> None:
    with pytest.raises(NotSupported, match="utf8mb4_unicode_520_ci"):
        sort_key(246)


def test_merged_text_reaches_the_client_in_its_character_set() -> None:
    latin1 = Column("s", ColumnType.VAR_STRING, LATIN1, 20)
    spec = MergeSpec((Item("plain", "s", 0),), 1, False, order=((0, False),))
    shards = [["é".encode("cp1252")], [b"z"]]
    columns, rows = merge_results(spec, [latin1], [shards[0:1], shards[1:2]], (), GENERAL)
    assert rows == [["é".encode()], [b"z"]]
    assert columns[0].charset == GENERAL and columns[0].length == 80


def test_recoded_column_metadata_keeps_the_rest_of_the_definition() -> None:
    raw = Column("name", ColumnType.VAR_STRING, LATIN1, 20, 0x1, 0).payload()
    column = parse_column(raw).recoded(GENERAL, 80)
    again = parse_column(column.payload())
    assert (again.name, again.charset, again.length, again.flags) == ("name", GENERAL, 80, 0x1)


def test_conversion_replaces_what_the_target_lacks() -> None:
    assert convert("\u0131€".encode(), "utf8mb4", "latin1") == b"?\x80"
    assert convert(b"\x80\x81", "latin1", "utf8mb4") == "€\x81".encode()
