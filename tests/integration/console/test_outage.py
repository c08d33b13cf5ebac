"""A console whose coordinator does not answer still shows what it can, and says why; no traceback."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from tests.integration.console.conftest import start_console
from tests.integration.coordinator.cluster import Cluster
from tests.support import free_port


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_a_console_whose_coordinator_is_down_says_so_on_every_page(cluster: Cluster) -> None:
    gone = f"127.0.0.1:{free_port()}"  # nothing listens there
    proc, url = await asyncio.to_thread(start_console, cluster, gone)
    status, html = await asyncio.to_thread(_fetch, url + "/")
    assert status == 200 and "not answering" in html and "UNAVAILABLE" in html
    for page in ("/transactions", "/tx?gid=g1", "/sagas", "/registry"):
        status, html = await asyncio.to_thread(_fetch, url + page)
        assert status == 503 and "UNAVAILABLE" in html, (page, status)
    assert "Traceback" not in proc.output()
