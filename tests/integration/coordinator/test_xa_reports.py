"""A proxy's batched reports of finished XA transactions (the session stream's ``xa_report``): recorded terminal
in one statement, idempotent when sent again, and a bad report is refused whole with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from sdk import RpcError
from tests.integration.coordinator.cluster import Cluster, query


def outcome(gid: str, committed: bool = True, **override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "gid": gid,
        "committed": committed,
        "service": "shop-proxy",
        "decider": "ds0",
        "reason": "" if committed else "backend 'ds1' could not prepare its part",
        "started_at": 1_790_000_000.5,
        "branches": [
            {"backend": "ds0", "gtrid": gid, "bqual": "shop-proxy/ds0"},
            {"backend": "ds1", "gtrid": gid, "bqual": "shop-proxy/ds1|ds0"},
        ],
    }
    base.update(override)
    return base


async def test_a_report_of_many_transactions_is_recorded_terminal_once(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client(address) as client:
        report = [outcome(f"xa-{n:03d}") for n in range(50)] + [outcome("xa-rolled-back", committed=False)]
        await client.report_xa(report)
        await client.report_xa(report[:3])  # sent again after a reconnect: nothing changes
        rows = await query(cluster.store, "SELECT gid, kind, state, reason FROM txc_transaction ORDER BY gid")
        assert len(rows) == 51 and {r["kind"] for r in rows} == {"XA"}
        states = {r["gid"]: r["state"] for r in rows}
        assert states["xa-rolled-back"] == "ROLLED_BACK" and states["xa-000"] == "COMMITTED"
        branches = await query(
            cluster.store, "SELECT branch_id, state, payload->>'xid' AS xid FROM txc_branch WHERE gid = 'xa-000'"
        )
        assert sorted((b["branch_id"], b["state"]) for b in branches) == [("ds0", "CONFIRMED"), ("ds1", "CONFIRMED")]
        assert {b["xid"] for b in branches} == {"xa-000,shop-proxy/ds0,7632995", "xa-000,shop-proxy/ds1|ds0,7632995"}
        detail = await client.query("xa-rolled-back")
        assert detail.transaction.mode == "XA" and "could not prepare" in detail.transaction.reason
        assert {b.state for b in detail.branches} == {"CANCELLED"}


BAD = [
    ({"gid": "g\x00x"}, "gid"),
    ({"service": "s" * 10_000}, "service"),
    ({"branches": []}, "outcomes[xa-bad].branches"),
    ({"started_at": -1.0}, "outcomes[xa-bad].started_at"),
]


async def test_a_bad_report_is_refused_whole_naming_the_field(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client(address) as client:
        for bad, field in BAD:
            with pytest.raises(RpcError) as info:
                await client.report_xa([outcome("xa-good"), {**outcome("xa-bad"), **bad}])
            assert info.value.code.name == "INVALID_ARGUMENT" and info.value.details.startswith(field), info.value
            assert len(info.value.details) < 300
        assert await query(cluster.store, "SELECT gid FROM txc_transaction") == []  # not even the good one
