from __future__ import annotations

import pytest

from dbproxy.xa.statements import FORMAT_ID, Xid, parse_recover_row


def test_xid_sql_is_hex_and_round_trips_through_xa_recover_rows() -> None:
    xid = Xid.of("18ebc048fd335be660055315c782", "shop-proxy", "ds1")
    assert xid.sql == f"X'{xid.gtrid.encode().hex()}',X'{b'shop-proxy/ds1'.hex()}',{FORMAT_ID}"
    data = xid.gtrid.encode() + xid.bqual.encode()
    row: list[bytes | None] = [str(FORMAT_ID).encode(), str(len(xid.gtrid)).encode(), b"14", data]
    assert parse_recover_row(row) == xid
    assert (xid.service, xid.backend) == ("shop-proxy", "ds1")


def test_foreign_xids_in_xa_recover_are_not_ours() -> None:
    assert parse_recover_row([b"1", b"2", b"2", b"g1b1"]) is None  # another format id: someone else's
    assert parse_recover_row([str(FORMAT_ID).encode(), b"2", b"5", b"g1b1"]) is None  # lengths do not add up


def test_xid_parts_are_bounded() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        Xid.of("g" * 65, "svc", "ds0")


def test_xid_names_its_decider_except_on_the_deciders_own_branch() -> None:
    other, own = Xid.of("gid1", "svc", "ds1", "ds0"), Xid.of("gid1", "svc", "ds0", "ds0")
    assert (other.bqual, other.service, other.backend, other.decider) == ("svc/ds1|ds0", "svc", "ds1", "ds0")
    assert (own.bqual, own.service, own.backend, own.decider) == ("svc/ds0", "svc", "ds0", "ds0")
