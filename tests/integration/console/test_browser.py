"""The console in a real browser (headless Chromium), against a real coordinator and participants."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.integration.console.conftest import TOKEN, Browser, start_console
from tests.integration.coordinator.cluster import Cluster, tx_state, txc_json
from tests.integration.coordinator.sagas import LINEAR, trip
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]


async def _stuck_transaction(cluster: Cluster, new_db: NewDb) -> tuple[str, str]:
    """A commit whose bank-b branch cannot be confirmed (bank-b is gone): COMMIT_FAILED after two rounds.
    Returns (coordinator address, gid)."""
    _, address = cluster.coordinator("--max-attempts", "2", "--retry-initial", "0.1", "--retry-max", "0.2")
    gid, _bank_b = await cluster.commit_with_bank_b_gone(await new_db(), await new_db())

    async def failed() -> bool:
        return await tx_state(cluster.store, gid) == "COMMIT_FAILED"

    await eventually(failed, timeout=60, what="COMMIT_FAILED")
    return address, gid


async def test_find_a_stuck_transaction_open_it_and_resolve_its_branch_with_confirmation(
    cluster: Cluster, new_db: NewDb, browser: Browser
) -> None:
    address, gid = await _stuck_transaction(cluster, new_db)
    _, url = await asyncio.to_thread(start_console, cluster, address)
    d = browser.driver

    def drive() -> None:
        d.get(url + "/")
        assert "COMMIT_FAILED" in d.find_element(By.ID, "needing").text
        bars = d.find_elements(By.CSS_SELECTOR, "#activity rect.bar")
        assert [b.find_element(By.TAG_NAME, "title").get_attribute("textContent").split(": ")[1] for b in bars] == [
            "1 other"  # this minute's one transaction, waiting for a person
        ]
        browser.shot("overview")
        d.get(url + "/transactions")
        Select(d.find_element(By.ID, "f-state")).select_by_visible_text("COMMIT_FAILED")
        Select(d.find_element(By.ID, "f-mode")).select_by_visible_text("TCC")
        d.find_element(By.ID, "f-gid").send_keys(gid[:8])
        browser.follow(d.find_element(By.ID, "f-go"))
        rows = d.find_elements(By.CSS_SELECTOR, "#transactions tr[data-gid]")
        assert [r.get_attribute("data-gid") for r in rows] == [gid]
        browser.shot("transactions-filtered")
        browser.follow(rows[0].find_element(By.CSS_SELECTOR, "a.gid"))
        assert d.find_element(By.ID, "state").text == "COMMIT_FAILED"
        branches = {
            r.get_attribute("data-branch"): r.text
            for r in d.find_elements(By.CSS_SELECTOR, "#branches tr[data-branch]")
        }
        stuck = next(b for b, text in branches.items() if "bank-b" in text)
        browser.shot("transaction-stuck")
        browser.follow(
            d.find_element(
                By.CSS_SELECTOR, f'a.action[data-action="resolve"][data-branch="{stuck}"][data-outcome="confirmed"]'
            )
        )
        # not logged in: the confirmation page sends the person to the login first, then back here
        browser.follow(d.find_element(By.CSS_SELECTOR, "#need-login a"))
        d.find_element(By.ID, "name").send_keys("alice")
        d.find_element(By.ID, "token").send_keys(TOKEN)
        browser.shot("login")
        browser.follow(d.find_element(By.ID, "login"))
        assert "Confirm: Resolve branch as confirmed" in d.find_element(By.TAG_NAME, "h1").text
        browser.shot("confirm")
        browser.follow(d.find_element(By.ID, "confirm"))
        assert "now COMMITTED" in d.find_element(By.ID, "done").text
        assert d.find_element(By.ID, "state").text == "COMMITTED"
        assert "console: alice" in d.find_element(By.ID, "timeline").text
        browser.shot("transaction-resolved")
        d.get(url + "/registry")
        assert "bank-a" in d.find_element(By.ID, "endpoints").text
        browser.shot("registry")

    await asyncio.to_thread(drive)
    shown = await asyncio.to_thread(txc_json, "tx", "show", gid, "--coordinator", address)
    assert shown["transaction"]["state"] == "COMMITTED"
    resolved = [m for m in shown["timeline"] if "confirmed by a person" in m["detail"]]
    assert len(resolved) == 1 and "console: alice" in resolved[0]["detail"], shown["timeline"]


async def test_a_compensated_saga_shows_its_failed_and_compensated_steps_coloured_in_the_svg(
    cluster: Cluster, new_db: NewDb, browser: Browser, tmp_path: Path
) -> None:
    _, address = cluster.coordinator()
    db = await new_db()
    trip(cluster, db, "--card-limit", "100")
    async with cluster.client() as client:
        await client.register_saga(LINEAR, "linear.yaml")
        result = await client.start_saga("linear", {"user": "bob", "amount": 500}, wait=True)
    assert result.state == "COMPENSATED", result
    reports = tmp_path / "chaos"
    (reports / "run-1").mkdir(parents=True)
    (reports / "run-1" / "report.html").write_text("<html><body><h1>a chaos run</h1></body></html>")
    (reports / "run-1" / "report.json").write_text(json.dumps({"passed": False, "workload": "bank-tcc"}))
    _, url = await asyncio.to_thread(start_console, cluster, address, "--chaos-reports", str(reports))
    d = browser.driver

    def drive() -> dict[str, tuple[str | None, ...]]:
        d.get(url + "/sagas")
        drawn = d.find_elements(By.CSS_SELECTOR, 'section.saga-def[data-name="linear"] svg g.step')
        assert sorted(g.get_attribute("data-step") for g in drawn) == ["flight", "hotel", "payment"]
        browser.shot("sagas")
        d.get(url + "/transactions?mode=SAGA")
        browser.follow(d.find_element(By.CSS_SELECTOR, "#transactions a.gid"))
        assert d.find_element(By.ID, "state").text == "COMPENSATED"
        browser.shot("saga")
        steps = {
            g.get_attribute("data-step"): (
                g.get_attribute("data-state"),
                g.get_attribute("data-failed"),
                g.find_element(By.TAG_NAME, "rect").get_attribute("fill"),
                g.find_element(By.TAG_NAME, "rect").get_attribute("stroke"),
            )
            for g in d.find_elements(By.CSS_SELECTOR, "svg.dag g.step")
        }
        d.get(url + "/chaos")
        assert "FAILED" in d.find_element(By.ID, "reports").text and "bank-tcc" in d.find_element(By.ID, "reports").text
        browser.shot("chaos")
        browser.follow(d.find_element(By.CSS_SELECTOR, "#reports a"))
        assert d.find_element(By.TAG_NAME, "h1").text == "a chaos run"
        return steps

    steps = await asyncio.to_thread(drive)
    detail = result.detail
    assert detail is not None
    # as the coordinator reports them: the declined payment failed, then every step was compensated (the
    # failed one too: its action might have been applied before the failure)
    assert {s.step_id: s.state for s in detail.steps} == dict.fromkeys(("flight", "hotel", "payment"), "COMPENSATED")
    assert "declined" in {s.step_id: s for s in detail.steps}["payment"].last_error
    compensated, failed = "#b9c8f5", "#b00020"  # dag.STATE_FILL["COMPENSATED"], dag.FAILED_STROKE
    assert steps == {
        "flight": ("COMPENSATED", "no", compensated, "#333"),
        "hotel": ("COMPENSATED", "no", compensated, "#333"),
        "payment": ("COMPENSATED", "yes", compensated, failed),
    }
