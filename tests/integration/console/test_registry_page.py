"""The registry page: each endpoint with its lease and the weight callers' warm-up gives it (--warmup)."""

from __future__ import annotations

import asyncio
import re
import urllib.request

from sdk.registry import RegistryClient
from tests.integration.console.conftest import start_console
from tests.integration.coordinator.cluster import Cluster, query


def _weights(url: str) -> dict[str, str]:
    """address -> the warm-up weight shown in its row."""
    with urllib.request.urlopen(url + "/registry", timeout=30) as reply:
        page = reply.read().decode()
    rows = re.findall(r'<tr data-address="([^"]+)">.*?<td class="num weight">([^<]+)</td>', page, re.S)
    return dict(rows)


async def test_the_registry_page_shows_each_endpoint_s_warm_up_weight_from_its_registration(cluster: Cluster) -> None:
    _, address = cluster.coordinator()
    registry = RegistryClient(address)
    try:
        await registry.register("warm-svc", "127.0.0.1:1", ttl=60)
        await registry.register("warm-svc", "127.0.0.1:2", ttl=60)
        await registry.register("warm-svc", "127.0.0.1:3", ttl=60)
        _, warming = await asyncio.to_thread(start_console, cluster, address, "--warmup", "3600")
        _, plain = await asyncio.to_thread(start_console, cluster, address)
        # registered half an hour and two hours ago (as if): half-way through a one-hour warm-up, and past it
        for port, minutes in ((2, 30), (3, 120)):
            await query(
                cluster.store,
                "UPDATE txc_registry_lease SET registered_at = now() - $2 * interval '1 minute' WHERE address = $1",
                f"127.0.0.1:{port}",
                minutes,
            )
        shown = await asyncio.to_thread(_weights, warming)
        assert {a: shown[a] for a in ("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")} == {
            "127.0.0.1:1": "0.05",  # just registered: the least weight a warming endpoint gets
            "127.0.0.1:2": "0.50",
            "127.0.0.1:3": "1.00",
        }
        without = await asyncio.to_thread(_weights, plain)
        assert set(without.values()) == {"1.00"} and "127.0.0.1:1" in without
    finally:
        await registry.close()
