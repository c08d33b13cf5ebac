"""``tx.call`` is typed by the try: mypy reports wrong arguments, wrong results and mismatched phases.

After Temporal's tests/test_activity_type_errors.py: files of deliberate mistakes, each marked with the error
mypy must report on that line, and a clean file that must pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).with_name("typing_cases")
REPO = Path(__file__).resolve().parents[3]
MARK = re.compile(r"#\s*E:\s*(.+?)\s*$")


def _mypy(path: Path) -> dict[int, list[str]]:
    """mypy's errors on ``path`` (relative to the repository), by line, with the project's configuration."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out, err = done.stdout, done.stderr
    assert not err, err
    errors: dict[int, list[str]] = {}
    for line in out.splitlines():
        match = re.match(rf"{re.escape(str(path))}:(\d+): error: (.*)", line)
        if match:
            errors.setdefault(int(match[1]), []).append(match[2])
    return errors


def test_each_deliberate_mistake_is_a_type_error() -> None:
    path = CASES / "calls_mistakes.py"
    expected = {
        n: MARK.search(text)[1]  # type: ignore[index]
        for n, text in enumerate(path.read_text().splitlines(), start=1)
        if MARK.search(text)
    }
    assert len(expected) >= 9
    errors = _mypy(path.relative_to(REPO))
    missed = {n: want for n, want in expected.items() if not any(want in got for got in errors.get(n, []))}
    assert missed == {}, f"mypy did not report these mistakes: {missed}\nit said: {errors}"
    unexpected = {n: got for n, got in errors.items() if n not in expected}
    assert unexpected == {}, f"mypy reported lines with no deliberate mistake: {unexpected}"


def test_correct_typed_calls_pass_mypy() -> None:
    assert _mypy((CASES / "calls_ok.py").relative_to(REPO)) == {}
