"""The result relay: finds where a backend response ends without decoding rows, patches session status bits."""

from __future__ import annotations

import asyncio
from typing import Any

from dbproxy.backends.connection import BackendConnection
from dbproxy.protocol.constants import MAX_PACKET, ColumnType
from dbproxy.protocol.packets import Column, eof_payload, frame, lenenc_int, ok_payload
from dbproxy.protocol.stream import PacketStream


class Sink:
    """Stands in for the client's StreamWriter (and the backend's, which only receives the command)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def relay(response: bytes, status: int) -> tuple[bytes, Any]:
    async def go() -> tuple[bytes, Any]:
        reader = asyncio.StreamReader()
        reader.feed_data(response)
        reader.feed_eof()
        conn = BackendConnection("ds0", PacketStream(reader, Sink()), ("ds0", False, 45))  # type: ignore[arg-type]
        client = Sink()
        outcome = await conn.relay(b"\x03SELECT 1", client, status)  # type: ignore[arg-type]
        return bytes(client.data), outcome

    return asyncio.run(go())


def test_ok_is_relayed_with_session_status_and_counts() -> None:
    data, outcome = relay(frame(ok_payload(3, 7, status=0x0002), 1), status=0x0001)
    assert (outcome.affected, outcome.insert_id) == (3, 7)
    assert data == frame(ok_payload(3, 7, status=0x0001), 1)  # AUTOCOMMIT off, IN_TRANS on: the session's view


def test_rows_larger_than_a_packet_do_not_end_the_result_early() -> None:
    col = Column("c", ColumnType.LONG_BLOB).payload()
    big = b"x" * MAX_PACKET
    row = lenenc_int(len(big)) + big
    # the row spans two packets; the second is 4 bytes long and starts with 0xfe, exactly like an EOF
    row = row[:MAX_PACKET] + b"\xfe" + row[MAX_PACKET + 1 :]
    assert len(row) - MAX_PACKET == 4
    parts = [frame(lenenc_int(1), 1), frame(col, 2), frame(eof_payload(0x0002), 3)]
    parts.append(MAX_PACKET.to_bytes(3, "little") + b"\x04" + row[:MAX_PACKET])
    rest = row[MAX_PACKET:]
    parts.append(len(rest).to_bytes(3, "little") + b"\x05" + rest)
    parts.append(frame(eof_payload(0x0002), 6))
    data, outcome = relay(b"".join(parts), status=0x0002)
    assert outcome.error == 0
    assert data == b"".join(parts)
