"""The console's tests: a real coordinator and participants (the coordinator tests' fixtures), a console
process, and headless Chromium driven by selenium (Debian's chromium and chromium-driver)."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.coordinator.cluster import Cluster
from tests.integration.coordinator.conftest import cluster, new_db, store, store_template
from tests.support import ChildProcess, free_port, start_process
from tests.support.polling import wait_until

__all__ = ["cluster", "new_db", "store", "store_template"]  # the coordinator tests' fixtures, reused here

TOKEN = "console-test-token"


def _answers(url: str) -> bool:
    """Whether the console answers at all (an error page is an answer: its coordinator may be down)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def start_console(
    cluster: Cluster, coordinator: str, *extra: str, token: str | None = TOKEN
) -> tuple[ChildProcess, str]:
    """``txc console`` on a free loopback port; (the process, its base URL) once it answers."""
    port = free_port()
    args = ["txc", "console", "--listen", f"127.0.0.1:{port}", "--coordinator", coordinator, *extra]
    env = {"TXC_TOKEN": token} if token else {}
    proc = start_process(args, cluster.log_dir, cluster._name("console"), env=env)
    cluster.processes.append(proc)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"the console exited:\n{proc.output()}")
        return _answers(url + "/registry")

    wait_until(up, timeout=30, what="the console answering")
    return proc, url


class Browser:
    """Headless Chromium; ``shot(name)`` saves a screenshot under the test's temporary folder."""

    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    def follow(self, element: WebElement) -> None:
        """Click something that loads a new page, and return once that page has replaced this one: a click
        can return before the navigation it starts, and the old page's elements then go stale under the test."""
        old_page = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        wait = WebDriverWait(self.driver, 30)
        wait.until(staleness_of(old_page))
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    driver_path = shutil.which("chromedriver")
    assert driver_path, "chromedriver missing: scripts/services installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Browser(driver, shots)
    finally:
        driver.quit()
