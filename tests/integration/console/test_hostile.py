"""Hostile text (markup, quotes, NUL, very long text, right-to-left marks) in gids, payloads, error texts,
saga YAML and registry metadata renders inert on every page: shown as text, never as markup."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from pathlib import Path

from selenium.webdriver.common.by import By

from sdk.registry import RegistryClient
from tests.integration.console.conftest import Browser, start_console
from tests.integration.console.test_security import Visitor
from tests.integration.coordinator.cluster import Cluster, query

RTL = "\u202e\u200f"  # right-to-left override and mark: they must not flip the page around them
MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&lt;</textarea></svg></title>"
HOSTILE = f"{MARKUP} {RTL}evil{RTL}"
LONG = ("<b>long</b> " * 2000) + RTL
GID = '<script>alert("gid")</script>\'"&amp;'  # a gid is printable ASCII without spaces
BRANCH = '"><img/src=x/onerror=alert(3)>'
SAGA_GID = "saga-<svg/onload=alert(4)>"
YAML = f"""
name: hostile
version: 1
description: {json.dumps(HOSTILE)}
steps:
  - id: first
    action: trip-flights.book
    compensate: trip-flights.cancel
    input: {{note: {json.dumps(HOSTILE)}, user: "${{input.user}}"}}
"""
# what must never appear in a page as markup (a page of ours has no script, img or iframe of its own)
FORBIDDEN = ("<script", "<img", "<iframe", "<svg/onload", "</textarea>", "&lt;</")
# an attribute value broken out of: a raw quote followed by an event handler
BREAKOUT = re.compile(r"[\"'][\s/]*on\w+=")


async def _seed(cluster: Cluster, address: str) -> None:
    """Hostile values through the real APIs where they accept them, the rest written into the store
    (the coordinator would refuse them on the way in; the console must still show them safely)."""
    async with cluster.client() as client:
        await client.register_saga(YAML, "hostile.yaml")
        await client.sagas.start("hostile", {"user": HOSTILE}, gid=SAGA_GID)
    payload = json.dumps({"note": HOSTILE, "long": LONG, "quote": "\"'"})
    await query(
        cluster.store,
        "INSERT INTO txc_transaction (gid, state, timeout_s, deadline, reason, attempts)"
        " VALUES ($1, 'COMMIT_FAILED', 30, now(), $2, 3)",
        GID,
        LONG,
    )
    await query(
        cluster.store,
        "INSERT INTO txc_branch (gid, branch_id, service, action, payload, attempts, last_error)"
        " VALUES ($1, $2, $3, $3, $4::jsonb, 3, $5)",
        GID,
        BRANCH,
        HOSTILE,
        payload,
        HOSTILE + LONG,
    )
    await query(
        cluster.store,
        "INSERT INTO txc_event (gid, branch_id, event, detail) VALUES ($1, $2, $3, $3)",
        GID,
        BRANCH,
        HOSTILE,
    )
    await query(cluster.store, "UPDATE txc_saga SET error = $2 WHERE gid = $1", SAGA_GID, HOSTILE)
    await query(cluster.store, "UPDATE txc_saga_step SET last_error = $2 WHERE gid = $1", SAGA_GID, HOSTILE)


def _pages() -> list[str]:
    q = urllib.parse.quote
    return [
        "/",
        "/transactions",
        f"/transactions?gid_prefix={q(GID[:10])}",
        f"/transactions?gid_prefix={q(chr(0) + MARKUP)}&service={q(HOSTILE)}",  # NUL: refused, shown escaped
        f"/transactions?state={q(MARKUP)}",
        f"/tx?gid={q(GID)}",
        f"/tx?gid={q(chr(0) + MARKUP)}",
        f"/tx/confirm?gid={q(GID)}&action=resolve&branch={q(BRANCH)}&outcome=confirmed",
        f"/tx/confirm?gid={q(GID)}&action={q(MARKUP)}",
        "/sagas",
        f"/saga?gid={q(SAGA_GID)}",
        "/registry",
        "/chaos",
        f"/login?next={q(MARKUP)}",
        f"/tx/confirm?gid={q(SAGA_GID)}&action=saga-resolve&branch={q(BRANCH)}&outcome=completed",
        f"/saga?gid={q(SAGA_GID)}&done={q(HOSTILE)}",
    ]


async def test_hostile_strings_render_inert_on_every_page(cluster: Cluster, browser: Browser, tmp_path: Path) -> None:
    _, address = cluster.coordinator()
    await _seed(cluster, address)
    registry = RegistryClient(address)
    await registry.register("hostile-svc", "127.0.0.1:1", ttl=60, metadata={"note": HOSTILE, MARKUP[:20]: "x"})
    reports = tmp_path / "reports"
    (reports / MARKUP[:10].replace("/", "_")).mkdir(parents=True)
    (reports / MARKUP[:10].replace("/", "_") / "report.html").write_text("<p>report</p>")
    (reports / MARKUP[:10].replace("/", "_") / "report.json").write_text(
        json.dumps({"passed": True, "workload": HOSTILE})
    )
    try:
        _, url = await asyncio.to_thread(start_console, cluster, address, "--chaos-reports", str(reports))

        def visit() -> dict[str, tuple[int, list[str]]]:
            visitor = Visitor(url)
            found = {}
            for page in _pages():
                status, html = visitor.request(page)
                found[page] = (status, [bad for bad in FORBIDDEN if bad in html.lower()])
                found[page][1].extend(m.group() for m in BREAKOUT.finditer(html))
                # no right-to-left override reaches the page raw outside an isolating <bdi> (or an attribute)
                outside = re.sub(r"<bdi>.*?</bdi>", "", html, flags=re.S)
                outside = re.sub(r'"[^"<>]*"', "", outside)
                if RTL[0] in outside:
                    found[page][1].append("RTL outside <bdi>")
                if page.startswith(("/tx?gid=%3Cscript", "/saga?", "/sagas", "/registry", "/chaos")):
                    assert "evil" in html, page  # the hostile text is there, as text
                    assert "\\u202e" in html, page  # and its direction override shown, not obeyed
            return found

        found = await asyncio.to_thread(visit)
        assert {page: bad for page, (_status, bad) in found.items() if bad} == {}
        statuses = {page: status for page, (status, _bad) in found.items()}
        assert all(status in (200, 400) for status in statuses.values()), statuses
        assert statuses[_pages()[3]] == statuses[_pages()[6]] == 400  # NUL: a clear refusal, not a crash

        def in_browser() -> list[tuple[str, int]]:
            d = browser.driver
            seen = []
            for name, page in (
                ("hostile-transaction", _pages()[5]),
                ("hostile-saga", _pages()[10]),
                ("hostile-sagas", "/sagas"),
            ):
                d.get(url + page)
                browser.shot(name)
                seen.append((name, len(d.find_elements(By.CSS_SELECTOR, "script, img, iframe"))))
                assert "alert(1)" in d.find_element(By.TAG_NAME, "main").text  # shown as text
            return seen

        assert await asyncio.to_thread(in_browser) == [
            ("hostile-transaction", 0),
            ("hostile-saga", 0),
            ("hostile-sagas", 0),
        ]
    finally:
        await registry.close()
