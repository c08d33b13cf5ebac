"""Wire-level helpers: parameters of COM_STMT_EXECUTE, literals, binary rows, native password."""

from __future__ import annotations

import datetime
import struct

import pytest

from dbproxy.backends.connection import native_password_scramble
from dbproxy.errors import ProxyError
from dbproxy.frontend.auth import check_native_password
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column, binary_row, frame, lenenc_int, read_lenenc
from dbproxy.protocol.params import parse_execute, sql_literal
from dbproxy.router.template import Template


def execute_payload(stmt: int, values: bytes, types: bytes | None, nulls: int = 0, n: int = 2) -> bytes:
    head = b"\x17" + struct.pack("<IBI", stmt, 0, 1) + bytes([nulls]) * ((n + 7) // 8)
    return head + (b"\x01" + types if types is not None else b"\x00") + values


def test_execute_remembers_types_sent_only_first_time() -> None:
    types = bytes([ColumnType.LONGLONG, 0, ColumnType.VAR_STRING, 0])
    values = struct.pack("<q", 42) + b"\x03abc"
    first = parse_execute(execute_payload(1, values, types), 2, None)
    assert first.values == [42, b"abc"]
    again = parse_execute(execute_payload(1, values, None), 2, first.types)
    assert again.values == [42, b"abc"] and again.raw_values == values
    with pytest.raises(ProxyError):
        parse_execute(execute_payload(1, values, None), 2, None)


def test_execute_nulls_and_dates() -> None:
    types = bytes([ColumnType.LONG, 0, ColumnType.DATETIME, 0])
    values = b"\x07" + struct.pack("<HBBBBB", 2024, 2, 29, 13, 5, 9)
    req = parse_execute(execute_payload(1, values, types, nulls=0b01), 2, None)
    assert req.values == [None, datetime.datetime(2024, 2, 29, 13, 5, 9)]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (5, "5"),
        (b"it's", "'it\\'s'"),
        (b"\xff", "X'ff'"),
        (1.5, "1.5"),
        (datetime.date(2024, 1, 2), "'2024-01-02'"),
    ],
)
def test_sql_literals(value: object, literal: str) -> None:
    assert sql_literal(value) == literal  # type: ignore[arg-type]


def test_binary_row_encoding() -> None:
    cols = [Column("a", ColumnType.LONGLONG), Column("b", ColumnType.VAR_STRING), Column("c", ColumnType.DOUBLE)]
    row = binary_row([b"7", None, b"2.5"], cols)
    assert row == b"\x00\x08" + struct.pack("<q", 7) + struct.pack("<d", 2.5)


def test_lenenc_roundtrip_and_large_frames() -> None:
    for n in (0, 250, 251, 65535, 65536, 1 << 24, 1 << 40):
        assert read_lenenc(lenenc_int(n), 0) == (n, len(lenenc_int(n)))
    big = frame(b"x" * 0xFFFFFF, 3)
    assert big[:4] == b"\xff\xff\xff\x03" and big[-4:] == b"\x00\x00\x00\x04"


def test_native_password_check_matches_the_client_scramble() -> None:
    seed = b"0123456789abcdefghij"
    assert check_native_password("secret", seed, native_password_scramble("secret", seed))
    assert not check_native_password("secret", seed, native_password_scramble("wrong", seed))
    assert check_native_password("", seed, b"")


def test_template_placeholders() -> None:
    t = Template.from_marked("SELECT a FROM t WHERE id = __dbp_p0__ AND k IN (`__dbp_p1__`) LIMIT __dbp_limit__")
    assert t.with_placeholders() == "SELECT a FROM t WHERE id = ? AND k IN (?) LIMIT ?"
    assert t.render((1, b"x"), {"__dbp_limit__": "9"}) == "SELECT a FROM t WHERE id = 1 AND k IN ('x') LIMIT 9"
