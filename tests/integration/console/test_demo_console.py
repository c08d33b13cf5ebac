"""`txc demo --console`: the demo's system keeps running with a console open on it, until interrupted."""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.coordinator.cluster import TXC
from tests.support.polling import wait_until

pytestmark = pytest.mark.slow


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return str(reply.read().decode())


def test_demo_console_serves_the_demo_system_until_interrupted(tmp_path: Path) -> None:
    errors = tmp_path / "demo.err"
    with errors.open("w") as err:
        demo = subprocess.Popen(
            [TXC, "demo", "--only", "trips", "--console", "--json", "--data-dir", str(tmp_path / "pg")],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:

        def opened() -> str | None:
            assert demo.poll() is None, errors.read_text()[-3000:]
            found = re.search(r"console open on (http://\S+/)", errors.read_text())
            return found.group(1) if found else None

        url = wait_until(opened, timeout=180, what="the demo's console address")
        sagas = _get(url + "transactions?mode=SAGA")
        assert sagas.count('<tr data-gid="') == 4 and "COMPENSATED" in sagas  # the demo's four trips
        assert "trip-flights" in _get(url + "registry")  # its participant still serves
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 130
        with pytest.raises(urllib.error.URLError):
            _get(url)  # the console went with it
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
