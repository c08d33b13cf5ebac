"""The README's participant snippet is ``examples/participant.py``, and that file works against a real coordinator."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.integration.coordinator.cluster import Cluster, query
from tests.support.polling import eventually

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "participant.py"


def test_readme_participant_snippet_is_the_example_file() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("A participant and its caller", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert snippet is not None, "README: no python block after 'A participant and its caller'"
    assert len(snippet[1].splitlines()) > 20
    assert snippet[1] in EXAMPLE.read_text(), "README snippet and examples/participant.py differ: copy the file's code"


async def test_the_example_participant_serves_and_its_caller_commits(
    cluster: Cluster, new_db: Callable[..., Awaitable[str]]
) -> None:
    _, address = cluster.coordinator()
    db = await new_db()
    await cluster.serve_example_participant(EXAMPLE, db, address, "example")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "call", "--registry", address], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r" COMMITT(ING|ED): \{'reserved': 10\}$", done.stdout.strip()), done.stdout

    async def confirmed() -> bool:
        rows = await query(db, "SELECT balance, frozen FROM account WHERE id = 'A'")
        return [tuple(r) for r in rows] == [(90, 0)]

    await eventually(confirmed, what="A debited by 10 and its reservation confirmed")
