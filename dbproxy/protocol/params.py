"""COM_STMT_EXECUTE parameters: decode the binary values (for routing and merging) and render SQL literals."""

from __future__ import annotations

import datetime
import struct
from dataclasses import dataclass
from decimal import Decimal

from dbproxy.errors import ProxyError
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import INT_LAYOUTS, read_lenenc

ParamValue = int | float | bytes | Decimal | datetime.date | datetime.datetime | datetime.timedelta | None

_FIXED = {
    **INT_LAYOUTS,
    ColumnType.FLOAT: (4, "<f", "<f"),
    ColumnType.DOUBLE: (8, "<d", "<d"),
}


@dataclass(slots=True)
class ExecuteRequest:
    stmt_id: int
    flags: int
    values: list[ParamValue]
    null_bitmap: bytes
    types: bytes
    raw_values: bytes  # the values exactly as the client sent them, forwarded to a backend statement as is


def parse_execute(payload: bytes, num_params: int, known_types: bytes | None) -> ExecuteRequest:
    """Parse a COM_STMT_EXECUTE payload (first byte 0x17).

    libmariadb sends parameter types only with the first execute of a statement (new-params-bound flag = 1),
    so the caller keeps ``known_types`` per statement and passes them back in.
    """
    stmt_id, flags = struct.unpack_from("<IB", payload, 1)
    if num_params == 0:
        return ExecuteRequest(stmt_id, flags, [], b"", b"", b"")
    pos = 10
    nb_len = (num_params + 7) // 8
    null_bitmap = payload[pos : pos + nb_len]
    pos += nb_len
    bound = payload[pos]
    pos += 1
    if bound:
        types = payload[pos : pos + 2 * num_params]
        pos += 2 * num_params
    elif known_types is not None:
        types = known_types
    else:
        raise ProxyError(
            "COM_STMT_EXECUTE without parameter types on the first execute of the statement",
            code=1210,  # ER_WRONG_ARGUMENTS
        )
    raw_values = payload[pos:]
    values: list[ParamValue] = []
    for i in range(num_params):
        if null_bitmap[i >> 3] & (1 << (i & 7)):
            values.append(None)
            continue
        t = types[2 * i]
        unsigned = bool(types[2 * i + 1] & 0x80)
        fixed = _FIXED.get(t)  # type: ignore[call-overload]
        if fixed is not None:
            size, sfmt, ufmt = fixed
            values.append(struct.unpack_from(ufmt if unsigned else sfmt, payload, pos)[0])
            pos += size
        elif t in (ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP):
            n = payload[pos]
            body = payload[pos + 1 : pos + 1 + n]
            pos += 1 + n
            values.append(_decode_datetime(body, t == ColumnType.DATE))
        elif t == ColumnType.TIME:
            n = payload[pos]
            body = payload[pos + 1 : pos + 1 + n]
            pos += 1 + n
            values.append(_decode_time(body))
        elif t == ColumnType.NULL:
            values.append(None)
        else:
            length, pos = read_lenenc(payload, pos)
            data = bytes(payload[pos : pos + (length or 0)])
            pos += length or 0
            values.append(_decimal(data) if t in (ColumnType.DECIMAL, ColumnType.NEWDECIMAL) else data)
    return ExecuteRequest(stmt_id, flags, values, bytes(null_bitmap), bytes(types), bytes(raw_values))


def _decimal(data: bytes) -> Decimal:
    """A DECIMAL parameter's text; one that is not a number is a malformed packet (ValueError), not a bug."""
    try:
        return Decimal(data.decode())
    except ArithmeticError:
        raise ValueError(f"malformed DECIMAL parameter {data[:40]!r}") from None


def _decode_datetime(body: bytes, date_only: bool) -> datetime.date | datetime.datetime:
    y = mo = d = h = mi = s = us = 0
    if len(body) >= 4:
        y, mo, d = struct.unpack_from("<HBB", body)
    if len(body) >= 7:
        h, mi, s = body[4], body[5], body[6]
    if len(body) >= 11:
        us = struct.unpack_from("<I", body, 7)[0]
    if date_only or len(body) <= 4:
        return datetime.date(y or 1, mo or 1, d or 1)
    return datetime.datetime(y, mo, d, h, mi, s, us)


def _decode_time(body: bytes) -> datetime.timedelta:
    if not body:
        return datetime.timedelta(0)
    neg, days, h, m, s = struct.unpack_from("<BIBBB", body)
    us = struct.unpack_from("<I", body, 8)[0] if len(body) >= 12 else 0
    delta = datetime.timedelta(days=days, hours=h, minutes=m, seconds=s, microseconds=us)
    return -delta if neg else delta


_ESCAPES = {0: "\\0", 10: "\\n", 13: "\\r", 26: "\\Z", 39: "\\'", 34: '\\"', 92: "\\\\"}


def sql_literal(value: ParamValue | str) -> str:
    """A MySQL literal for a parameter value, for statements the proxy must send as text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return "X'" + value.hex() + "'"
        return "'" + text.translate(_ESCAPES) + "'"
    if isinstance(value, datetime.timedelta):
        total = value.total_seconds()
        sign = "-" if total < 0 else ""
        total = abs(total)
        h, rem = divmod(int(total), 3600)
        m, s = divmod(rem, 60)
        us = round((total - int(total)) * 1_000_000)
        return f"'{sign}{h:02d}:{m:02d}:{s:02d}.{us:06d}'"
    return "'" + value.isoformat(sep=" ") + "'" if isinstance(value, datetime.datetime) else f"'{value.isoformat()}'"
