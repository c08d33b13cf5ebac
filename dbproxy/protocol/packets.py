"""Building and parsing MySQL packets: framing, length-encoded values, OK/ERR/EOF, column definitions, rows."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbproxy.protocol.constants import MAX_PACKET, ColumnType, ServerStatus

# Binary-protocol integer columns: (width, signed struct format, unsigned struct format).
# Shared by result rows (here) and prepared-statement parameters (params.py).
INT_LAYOUTS = {
    ColumnType.TINY: (1, "<b", "<B"),
    ColumnType.SHORT: (2, "<h", "<H"),
    ColumnType.YEAR: (2, "<h", "<H"),
    ColumnType.LONG: (4, "<i", "<I"),
    ColumnType.INT24: (4, "<i", "<I"),
    ColumnType.LONGLONG: (8, "<q", "<Q"),
}


def lenenc_int(n: int) -> bytes:
    if n < 251:
        return bytes((n,))
    if n < 1 << 16:
        return b"\xfc" + n.to_bytes(2, "little")
    if n < 1 << 24:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + n.to_bytes(8, "little")


def lenenc_str(s: bytes) -> bytes:
    return lenenc_int(len(s)) + s


def read_lenenc(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int | None, int]:
    """Read a length-encoded integer at ``pos``; None means the NULL marker (0xfb)."""
    first = buf[pos]
    if first < 251:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    if first == 0xFC:
        return buf[pos + 1] | buf[pos + 2] << 8, pos + 3
    if first == 0xFD:
        return int.from_bytes(buf[pos + 1 : pos + 4], "little"), pos + 4
    return int.from_bytes(buf[pos + 1 : pos + 9], "little"), pos + 9


def read_lenenc_str(buf: bytes | bytearray | memoryview, pos: int) -> tuple[bytes | None, int]:
    length, pos = read_lenenc(buf, pos)
    if length is None:
        return None, pos
    return bytes(buf[pos : pos + length]), pos + length


def frame(payload: bytes, seq: int) -> bytes:
    """Wrap a payload in packet headers, splitting at 16 MiB as the protocol requires."""
    n = len(payload)
    if n < MAX_PACKET:
        return n.to_bytes(3, "little") + bytes((seq & 0xFF,)) + payload
    out = bytearray()
    pos = 0
    while True:
        chunk = payload[pos : pos + MAX_PACKET]
        out += len(chunk).to_bytes(3, "little") + bytes((seq & 0xFF,)) + chunk
        seq += 1
        pos += len(chunk)
        if len(chunk) < MAX_PACKET:
            return bytes(out)


def ok_payload(affected: int = 0, insert_id: int = 0, status: int = 0, warnings: int = 0, info: bytes = b"") -> bytes:
    return b"\x00" + lenenc_int(affected) + lenenc_int(insert_id) + struct.pack("<HH", status, warnings) + info


def err_payload(code: int, sqlstate: str, message: str) -> bytes:
    return b"\xff" + struct.pack("<H", code) + b"#" + sqlstate.encode()[:5] + message.encode("utf-8", "replace")


def eof_payload(status: int, warnings: int = 0) -> bytes:
    return b"\xfe" + struct.pack("<HH", warnings, status)


@dataclass(frozen=True, slots=True)
class OkInfo:
    affected: int
    insert_id: int
    status: int
    warnings: int


def parse_ok(payload: bytes) -> OkInfo:
    affected, pos = read_lenenc(payload, 1)
    insert_id, pos = read_lenenc(payload, pos)
    status, warnings = struct.unpack_from("<HH", payload, pos)
    return OkInfo(affected or 0, insert_id or 0, status, warnings)


def parse_err(payload: bytes) -> tuple[int, str, str]:
    code = struct.unpack_from("<H", payload, 1)[0]
    if payload[3:4] == b"#":
        return code, payload[4:9].decode(), payload[9:].decode("utf-8", "replace")
    return code, "HY000", payload[3:].decode("utf-8", "replace")


def status_offset(payload: bytes | bytearray | memoryview) -> int:
    """Where the 2-byte status flags sit in an OK (0x00) or EOF (0xfe) payload."""
    if payload[0] == 0xFE and len(payload) < 9:
        return 3
    _, pos = read_lenenc(payload, 1)
    _, pos = read_lenenc(payload, pos)
    return pos


# plain ints: IntFlag arithmetic costs microseconds on the hot path
SESSION_STATUS_MASK = int(ServerStatus.SERVER_STATUS_IN_TRANS | ServerStatus.SERVER_STATUS_AUTOCOMMIT)
MORE_RESULTS = int(ServerStatus.SERVER_MORE_RESULTS_EXISTS)


@dataclass(frozen=True, slots=True)
class Column:
    """A result column; ``raw`` is the backend's column-definition payload when there was one."""

    name: str
    type: int
    charset: int = 45
    length: int = 0
    flags: int = 0
    decimals: int = 0
    raw: bytes | None = None

    @property
    def unsigned(self) -> bool:
        return bool(self.flags & 0x20)

    @property
    def binary(self) -> bool:
        return self.charset == 63

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return (
            lenenc_str(b"def")
            + lenenc_str(b"")
            + lenenc_str(b"")
            + lenenc_str(b"")
            + lenenc_str(self.name.encode())
            + lenenc_str(self.name.encode())
            + b"\x0c"
            + struct.pack("<HIBHB", self.charset, self.length, self.type, self.flags, self.decimals)
            + b"\x00\x00"
        )

    def recoded(self, charset: int, length: int) -> Column:
        """The same column in another character set (collation id ``charset``, ``length`` bytes at most)."""
        raw = self.raw
        if raw is not None:
            pos = 0
            for _ in range(6):  # catalog, schema, table, org_table, name, org_name
                _, pos = read_lenenc_str(raw, pos)
            patched = bytearray(raw)
            struct.pack_into("<HI", patched, pos + 1, charset, length)
            raw = bytes(patched)
        return Column(self.name, self.type, charset, length, self.flags, self.decimals, raw)

    def renamed(self, name: str, type_: int | None = None, decimals: int | None = None) -> Column:
        return Column(
            name,
            self.type if type_ is None else type_,
            self.charset,
            self.length,
            self.flags,
            self.decimals if decimals is None else decimals,
        )


def parse_column(payload: bytes) -> Column:
    pos = 0
    for _ in range(4):  # catalog, schema, table, org_table
        _, pos = read_lenenc_str(payload, pos)
    name, pos = read_lenenc_str(payload, pos)
    _, pos = read_lenenc_str(payload, pos)  # org_name
    pos += 1  # length of fixed fields (0x0c)
    charset, length, type_, flags, decimals = struct.unpack_from("<HIBHB", payload, pos)
    return Column((name or b"").decode("utf-8", "replace"), type_, charset, length, flags, decimals, payload)


def text_row(values: Sequence[bytes | None]) -> bytes:
    return b"".join(b"\xfb" if v is None else lenenc_int(len(v)) + v for v in values)


def parse_text_row(payload: bytes, ncols: int) -> list[bytes | None]:
    out: list[bytes | None] = []
    pos = 0
    for _ in range(ncols):
        value, pos = read_lenenc_str(payload, pos)
        out.append(value)
    return out


def _binary_temporal(text: bytes, type_: int) -> bytes:
    s = text.decode()
    if type_ == ColumnType.TIME:
        neg = s.startswith("-")
        s = s.lstrip("-")
        hms, _, frac = s.partition(".")
        h, m, sec = (int(x) for x in hms.split(":"))
        micro = int((frac + "000000")[:6]) if frac else 0
        days, h = divmod(h, 24)
        if not (days or h or m or sec or micro):
            return b"\x00"
        body = struct.pack("<BIBBB", neg, days, h, m, sec)
        return (b"\x0c" + body + struct.pack("<I", micro)) if micro else b"\x08" + body
    date, _, rest = s.partition(" ")
    y, mo, d = (int(x) for x in date.split("-"))
    if not rest:
        return b"\x04" + struct.pack("<HBB", y, mo, d) if (y or mo or d) else b"\x00"
    hms, _, frac = rest.partition(".")
    h, mi, sec = (int(x) for x in hms.split(":"))
    micro = int((frac + "000000")[:6]) if frac else 0
    if micro:
        return b"\x0b" + struct.pack("<HBBBBBI", y, mo, d, h, mi, sec, micro)
    if h or mi or sec:
        return b"\x07" + struct.pack("<HBBBBB", y, mo, d, h, mi, sec)
    return b"\x04" + struct.pack("<HBB", y, mo, d) if (y or mo or d) else b"\x00"


def _encoder(col: Column) -> Any:
    t = col.type
    layout = INT_LAYOUTS.get(t)  # type: ignore[call-overload]
    if layout is not None:
        packer = struct.Struct(layout[2] if col.unsigned else layout[1]).pack
        return lambda v: packer(int(v))
    if t == ColumnType.DOUBLE:
        return lambda v: struct.pack("<d", float(v))
    if t == ColumnType.FLOAT:
        return lambda v: struct.pack("<f", float(v))
    if t in (ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP, ColumnType.TIME):
        return lambda v: _binary_temporal(v, t)
    return None  # length-encoded string, the same bytes as in the text protocol


def binary_row_encoder(columns: list[Column]) -> Any:
    """A function encoding rows of text-protocol values in the binary protocol (prepared statements' merged
    results); the per-column work is chosen once per result, not per value."""
    n = len(columns)
    encoders = [_encoder(c) for c in columns]
    bitmap_len = (n + 7 + 2) // 8

    def encode(values: Sequence[bytes | None]) -> bytes:
        bitmap = bytearray(bitmap_len)
        body = bytearray()
        for i, v in enumerate(values):
            if v is None:
                bitmap[(i + 2) >> 3] |= 1 << ((i + 2) & 7)
                continue
            enc = encoders[i]
            if enc is None:
                body += lenenc_int(len(v))
                body += v
            else:
                body += enc(v)
        return b"\x00" + bytes(bitmap) + bytes(body)

    return encode


def binary_row(values: list[bytes | None], columns: list[Column]) -> bytes:
    """Encode one row of text-protocol values in the binary protocol."""
    return binary_row_encoder(columns)(values)  # type: ignore[no-any-return]
