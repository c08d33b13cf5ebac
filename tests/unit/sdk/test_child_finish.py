"""``ChildProcess.finish``: a process that ends by itself (sysbench, a bench caller) gives back what it wrote, and
one that fails or hangs is reported, never read as a result."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from sdk.processes import ChildProcess, ProcessFailed


def test_finish_returns_what_the_process_wrote(tmp_path: Path) -> None:
    child = ChildProcess([sys.executable, "-c", "print('{\"tps\": 12}')"], tmp_path / "ok.log")
    assert child.finish(timeout=30).strip() == '{"tps": 12}'
    assert child.returncode == 0


def test_finish_raises_with_the_output_when_the_process_fails(tmp_path: Path) -> None:
    child = ChildProcess(
        [sys.executable, "-c", "import sys; print('no such table'); sys.exit(3)"], tmp_path / "bad.log"
    )
    with pytest.raises(ProcessFailed, match="exited with 3") as failed:
        child.finish(timeout=30)
    assert "no such table" in str(failed.value)


def test_finish_kills_a_process_that_does_not_end(tmp_path: Path) -> None:
    child = ChildProcess([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "hang.log")
    started = time.monotonic()
    with pytest.raises(ProcessFailed, match=r"did not end in 0\.5s"):
        child.finish(timeout=0.5)
    assert not child.alive()
    assert time.monotonic() - started < 30
