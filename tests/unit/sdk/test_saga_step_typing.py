"""``@saga_step`` keeps its signature in its type: mypy reports a compensation whose parameters differ from
the action's (and accepts a matching one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOURCE = """
from sdk import SagaContext, saga_step


@saga_step
async def book(ctx: SagaContext, user: str, nights: int) -> dict[str, str]:
    return {}


@book.compensation
async def cancel(ctx: SagaContext, user: str, nights: int) -> None: ...


@book.compensation
async def wrong_type(ctx: SagaContext, user: str, nights: str) -> None: ...  # MISTAKE


@book.compensation
async def no_context(user: str, nights: int) -> None: ...  # MISTAKE
"""


def test_mypy_reports_each_mismatched_compensation(tmp_path: Path) -> None:
    path = tmp_path / "steps.py"
    path.write_text(SOURCE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = SOURCE.splitlines()
    mistakes = {n + 1 for n, line in enumerate(lines) if "MISTAKE" in line}
    # mypy reports the decorator line above each mistaken function
    reported = {int(line.split(":")[1]) for line in done.stdout.splitlines() if ": error:" in line}
    assert reported == {n - 1 for n in mistakes}, done.stdout
