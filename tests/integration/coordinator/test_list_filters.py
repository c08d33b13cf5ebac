"""The List call's filters and keyset cursor (what the console's transaction table pages through)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from sdk.errors import RpcError
from tests.integration.coordinator.cluster import Cluster, query, txc_json


async def test_list_filters_combine_and_pages_follow_the_cursor(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client(address) as client:
        for n in range(5):
            service = "bank-a" if n % 2 else "bank-b"
            await client.register_branch(f"lf-a{n}", f"b{n}", service, "debit", {"n": n}, tx_timeout=60)
        await client.register_branch(
            "lf-x1", "x", "proxy", "xa", {"backend": "s1", "xid": "x"}, tx_timeout=60, kind="XA"
        )
        await query(
            cluster.store, "UPDATE txc_transaction SET created_at = now() - interval '2 hours' WHERE gid = 'lf-a0'"
        )

        async def gids(state: str = "", **filters: object) -> list[str]:
            return [t.gid for t in (await client.list(state, 100, skip_counts=True, **filters)).transactions]

        assert await gids() == ["lf-x1", "lf-a4", "lf-a3", "lf-a2", "lf-a1", "lf-a0"]  # newest first
        assert await gids(mode="XA") == ["lf-x1"]
        assert await gids(service="bank-a") == ["lf-a3", "lf-a1"]
        assert await gids(gid_prefix="lf-a", service="bank-b") == ["lf-a4", "lf-a2", "lf-a0"]
        assert await gids(older_than_seconds=3600) == ["lf-a0"]
        args = ("tx", "list", "--service", "bank-a", "--after", "lf-a3", "--coordinator", address)
        listed = await asyncio.to_thread(txc_json, *args)
        assert [t["gid"] for t in listed["transactions"]] == ["lf-a1"]  # the same filters from the command line
        first = (await client.list("BEGIN", 2, skip_counts=True)).transactions
        assert [t.gid for t in first] == ["lf-x1", "lf-a4"]
        assert await gids(state="BEGIN", after_gid="lf-a4") == ["lf-a3", "lf-a2", "lf-a1", "lf-a0"]
        counted = await client.list("", 1)
        assert dict(counted.counts) == {"BEGIN": 6} and dict(counted.counts_by_mode) == {"TCC": 5, "XA": 1}
        assert dict((await client.list("", 1, skip_counts=True)).counts) == {}
        recent = await client.activity(5)  # per minute begun: the one moved two hours back is not among them
        assert sum(m.other for m in recent) == 5 and sum(m.committed + m.rolled_back for m in recent) == 0
        for bad, named in (
            (dict(mode="NOPE"), "mode"),
            (dict(after_gid="has space"), "gid"),
            (dict(gid_prefix="\0"), "NUL"),
        ):
            with pytest.raises(RpcError) as refused:
                await client.list("", 10, **bad)
            assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and named in refused.value.details


async def test_admin_actions_record_who_asked(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    async with cluster.client(address) as client:
        await client.begin("lf-who", 60)
        await client.abort("lf-who", "console: alice")
        events = await query(cluster.store, "SELECT event, detail FROM txc_event WHERE gid = 'lf-who'")
        assert [(e["event"], e["detail"]) for e in events] == [("aborted", "console: alice")]
        await client.begin("lf-who-2", 60)
        await client.abort("lf-who-2")
        events = await query(cluster.store, "SELECT detail FROM txc_event WHERE gid = 'lf-who-2'")
        assert [e["detail"] for e in events] == ["txc tx abort"]  # the command's name, as before
