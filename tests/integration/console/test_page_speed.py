"""The console stays fast on a big store: 1,000,000 transactions generated in PostgreSQL, then the list, each
filter (state, mode and age, gid prefix, a common, a rare and an unknown service), a next page and a detail
page. Times are logged; the bound asserted is generous (it catches a full scan, not a slow machine), and the
list query behind each filter is run under EXPLAIN ANALYZE to check it reads a page's worth of transactions,
never most of the million (a count of rows, not a time)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.console.conftest import start_console
from tests.integration.coordinator.cluster import Cluster, query
from txcoord.model import ListFilter
from txcoord.tcc.store import Q

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)
ROWS = 1_000_000
BOUND = 3.0  # seconds: far above what an indexed page takes, far below a scan of a million rows on a loaded box
READ_BOUND = 20_000  # transaction rows a list query may read: a page is 51, a walk of the store a million

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
# the ones marked for a person have two open branches of services no other transaction calls (rare services);
# one in four of the others a finished branch of bank-a (a common service)
BRANCHES = r"""
INSERT INTO txc_branch (gid, branch_id, service, action, payload, state, attempts, last_error)
SELECT gid, b::text, 'bank-' || b, 'debit', '{"account": "A", "amount": 1}', 'REGISTERED', 5, 'unreachable'
  FROM txc_transaction, generate_series(1, 2) AS b WHERE state = 'COMMIT_FAILED'
"""
COMMON_BRANCHES = r"""
INSERT INTO txc_branch (gid, branch_id, service, action, payload, state)
SELECT gid, 'a', 'bank-a', 'debit', '{"account": "A", "amount": 1}', 'CONFIRMED'
  FROM txc_transaction WHERE kind = 'TCC' AND state <> 'COMMIT_FAILED' AND right(gid, 1) IN ('0', '4', '8', 'c')
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


async def _transactions_read(store: str, filters: ListFilter) -> tuple[int, str]:
    """(rows of txc_transaction the store's list query read for a page of 51, its plan), as the store runs it."""
    f = filters
    args = (f.state, 51, f.mode, f.service, f.gid_prefix, f.prefix_end(), f.older_than_s, f.after_gid)
    statement = Q["list_by_service"] if f.service else Q["list"]
    rows = await query(store, "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, *args)
    plan = json.loads(rows[0][0])[0]["Plan"]
    read = 0

    def visit(node: dict[str, Any]) -> None:
        nonlocal read
        if node.get("Relation Name") == "txc_transaction":
            per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            read += int(per_loop * node["Actual Loops"]) + node.get("Rows Removed by Index Recheck", 0)
        for child in node.get("Plans", []):
            visit(child)

    visit(plan)
    return read, json.dumps(plan, indent=1)


async def test_list_filter_next_page_and_detail_stay_fast_with_a_million_transactions(
    cluster: Cluster, new_db: Callable[..., Awaitable[str]]
) -> None:
    started = time.monotonic()
    await query(cluster.store, GENERATE, ROWS)
    await query(cluster.store, BRANCHES)
    await query(cluster.store, COMMON_BRANCHES)
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
        "filter: common service": "/transactions?service=bank-a",
        "filter: rare service": "/transactions?service=bank-1",
        "filter: unknown service": "/transactions?service=nobody",
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
    _, by_service = await asyncio.to_thread(_timed, url + "/transactions?service=bank-1")
    assert f'data-gid="{failed}"' in by_service and 'id="next"' in by_service  # 98 of them: two pages
    # the queries behind the filters read a page's worth of transactions (through an index), never the store
    read = {}
    for filters in (
        ListFilter(),
        ListFilter(state="COMMIT_FAILED"),
        ListFilter(mode="XA", older_than_s=3600),
        ListFilter(gid_prefix=newest[:6]),
        ListFilter(after_gid=newest),
        ListFilter(service="bank-a"),
        ListFilter(service="bank-1"),
        ListFilter(service="nobody"),
        ListFilter(service="bank-1", state="COMMIT_FAILED", after_gid=failed),
    ):
        read[filters], plan = await _transactions_read(cluster.store, filters)
        log.info("list %s read %d transactions", filters, read[filters])
        assert read[filters] < READ_BOUND, (filters, plan)
