"""The console stays fast on a big store: 1,000,000 transactions generated in PostgreSQL, then the list, a
filter, a next page and a detail page. Times are logged; the bound asserted is generous (it catches a full
scan, not a slow machine), and the list query's plan is checked to use an index for each filter."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from collections.abc import Awaitable, Callable

import pytest

from tests.integration.console.conftest import start_console
from tests.integration.coordinator.cluster import Cluster, query
from txcoord.model import ListFilter
from txcoord.tcc.store import Q

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)
ROWS = 1_000_000
BOUND = 3.0  # seconds: far above what an indexed page takes, far below a scan of a million rows on a loaded box

# one statement: gids in creation order (hex of i), one in 50 a saga, one in 97 an XA transaction, one in 10007
# marked for a person (with two branches), created 10 ms apart, the newest now
GENERATE = r"""
INSERT INTO txc_transaction (gid, kind, state, timeout_s, deadline, created_at, decided_at, finished_at, reason)
SELECT 'g' || lpad(to_hex(i), 8, '0'),
       CASE WHEN i % 50 = 0 THEN 'SAGA' WHEN i % 97 = 0 THEN 'XA' ELSE 'TCC' END,
       CASE WHEN i % 50 = 0 THEN 'SUCCEEDED' WHEN i % 10007 = 0 THEN 'COMMIT_FAILED'
            WHEN i % 3 = 0 THEN 'ROLLED_BACK' ELSE 'COMMITTED' END,
       30, at + interval '30 seconds', at, at, at, CASE WHEN i % 3 = 0 THEN 'rollback' ELSE 'commit' END
  FROM generate_series(1, $1::int) AS i, LATERAL (SELECT now() - ($1 - i) * interval '10 milliseconds' AS at) t
"""
BRANCHES = r"""
INSERT INTO txc_branch (gid, branch_id, service, action, payload, state, attempts, last_error)
SELECT gid, b::text, 'bank-' || b, 'debit', '{"account": "A", "amount": 1}', 'REGISTERED', 5, 'unreachable'
  FROM txc_transaction, generate_series(1, 2) AS b WHERE state = 'COMMIT_FAILED'
"""


def _timed(url: str) -> tuple[float, str]:
    """The best of three fetches (seconds) and the page."""
    best, html = float("inf"), ""
    for _ in range(3):
        started = time.monotonic()
        with urllib.request.urlopen(url, timeout=60) as reply:
            html = reply.read().decode()
            assert reply.status == 200
        best = min(best, time.monotonic() - started)
    return best, html


async def _plan(store: str, filters: ListFilter) -> str:
    f = filters
    args = (f.state, 51, f.mode, f.service, f.gid_prefix, f.prefix_end(), f.older_than_s, f.after_gid)
    rows = await query(store, "EXPLAIN " + Q["list"], *args)
    return "\n".join(r[0] for r in rows)


async def test_list_filter_next_page_and_detail_stay_fast_with_a_million_transactions(
    cluster: Cluster, new_db: Callable[..., Awaitable[str]]
) -> None:
    started = time.monotonic()
    await query(cluster.store, GENERATE, ROWS)
    await query(cluster.store, BRANCHES)
    await query(cluster.store, "ANALYZE txc_transaction")
    await query(cluster.store, "ANALYZE txc_branch")
    log.info("generated %d transactions in %.1f s", ROWS, time.monotonic() - started)
    _, address = cluster.coordinator()
    _, url = await asyncio.to_thread(start_console, cluster, address)
    failed = (
        await query(
            cluster.store, "SELECT gid FROM txc_transaction WHERE state = 'COMMIT_FAILED' ORDER BY gid DESC LIMIT 1"
        )
    )[0][0]
    newest = f"g{ROWS:08x}"
    overview, _ = await asyncio.to_thread(_timed, url + "/")  # counts every row: logged, not bounded
    log.info("console page %-26s %7.1f ms", "overview (counts all rows)", overview * 1000)
    pages = {
        "list": "/transactions",
        "filter: COMMIT_FAILED": "/transactions?state=COMMIT_FAILED",
        "filter: XA older than 1h": "/transactions?mode=XA&older_than=1h",
        "filter: gid prefix": f"/transactions?gid_prefix={newest[:6]}",
        "next page": f"/transactions?after={newest}",
        "detail": f"/tx?gid={failed}",
    }
    times = {}
    for name, path in pages.items():
        seconds, html = await asyncio.to_thread(_timed, url + path)
        times[name] = seconds
        log.info("console page %-26s %7.1f ms", name, seconds * 1000)
        assert "<table" in html
    _, listed = await asyncio.to_thread(_timed, url + "/transactions?state=COMMIT_FAILED")
    assert f'data-gid="{failed}"' in listed and 'id="next"' in listed  # the newest first, more on the next page
    assert {name: t for name, t in times.items() if t > BOUND} == {}, times
    # the plans behind the filters: an index, never a sequential scan of the transactions
    for filters in (
        ListFilter(),
        ListFilter(state="COMMIT_FAILED"),
        ListFilter(mode="XA", older_than_s=3600),
        ListFilter(gid_prefix=newest[:6]),
        ListFilter(after_gid=newest),
    ):
        plan = await _plan(cluster.store, filters)
        assert "Seq Scan on txc_transaction" not in plan, (filters, plan)
