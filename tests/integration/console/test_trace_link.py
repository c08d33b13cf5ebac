"""A transaction's trace id on its console page: the one the coordinator recorded (as `txc tx show` prints
it), linked to the tracing UI given with --tracing-url, shown unlinked without one."""

from __future__ import annotations

import asyncio
import html
import re
import urllib.request
from collections.abc import Iterator

import pytest

from tests.integration.console.conftest import start_console
from tests.integration.coordinator.cluster import TXC, Cluster, txc_json
from tests.integration.observability.otlp_receiver import OtlpReceiver, otel_env
from tests.support import free_port, start_process

TRACING_UI = "https://traces.example/trace/{trace_id}?from=txc"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver()
    yield found
    found.close()


def _trace_cell(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as reply:
        page = reply.read().decode()
    found = re.search(r'<td colspan="3" id="trace">(.*?)</td>', page, re.S)
    assert found, page[:3000]
    return found.group(1)


async def test_the_trace_id_links_to_the_tracing_ui_when_one_is_configured(
    cluster: Cluster, receiver: OtlpReceiver
) -> None:
    address = f"127.0.0.1:{free_port()}"
    args = [TXC, "coordinator", "--listen", address, "--store", cluster.store, "--scan-interval", "0.2"]
    proc = start_process(args, cluster.log_dir, "coordinator-traced", env=otel_env(receiver, "coordinator"))
    cluster.processes.append(proc)
    await asyncio.to_thread(proc.wait_serving, address)
    async with cluster.client(address) as client:
        await client.begin("console-traced-1", 60)
        assert await client.commit("console-traced-1") in ("COMMITTING", "COMMITTED")  # decided
        await client.begin("console-undecided-1", 60)  # no decision yet: no trace id recorded
    shown = await asyncio.to_thread(txc_json, "tx", "show", "console-traced-1", "--coordinator", address)
    trace_id = shown["transaction"]["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id), shown["transaction"]

    _, linked = await asyncio.to_thread(start_console, cluster, address, "--tracing-url", TRACING_UI)
    _, plain = await asyncio.to_thread(start_console, cluster, address)
    cell = await asyncio.to_thread(_trace_cell, linked + "/tx?gid=console-traced-1")
    link = re.search(r'<a href="([^"]+)" rel="noreferrer"><bdi>([0-9a-f]+)</bdi></a>', cell)
    assert link, cell
    assert (html.unescape(link.group(1)), link.group(2)) == (TRACING_UI.format(trace_id=trace_id), trace_id)
    cell = await asyncio.to_thread(_trace_cell, plain + "/tx?gid=console-traced-1")
    assert "<a" not in cell and f"<bdi>{trace_id}</bdi>" in cell, cell
    cell = await asyncio.to_thread(_trace_cell, linked + "/tx?gid=console-undecided-1")
    assert "not traced" in cell and "<a" not in cell, cell
