"""The proxy bench's side-by-side rounds pin each proxy and its load to opposite halves of the CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.harness import cpu_halves, pin, pinned_command
from sdk.processes import ChildProcess


def test_halves_split_the_allowed_cpus_without_overlap() -> None:
    halves = cpu_halves()
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        assert halves is None
        return
    assert halves is not None
    first, second = halves
    assert first and second and not first & second and first | second == allowed


def test_pinned_command_runs_only_on_the_cpus_given() -> None:
    one = {min(os.sched_getaffinity(0))}
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    done = subprocess.run(pinned_command([sys.executable, "-c", code], one), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(sorted(one))
    assert pinned_command(["true"], None) == ["true"]


def test_pin_moves_every_thread_of_a_running_process(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("one CPU: nothing to pin to")  # the bench does not pin on one CPU either
    threads = "import threading, time; [threading.Thread(target=time.sleep, args=(60,)).start() for _ in range(3)]"
    child = ChildProcess([sys.executable, "-c", f"{threads}; time.sleep(60)"], tmp_path / "threads.log")
    try:
        tasks = Path(f"/proc/{child.pid}/task")
        deadline = time.monotonic() + 10
        while len(list(tasks.iterdir())) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        pin(child.pid, {allowed[-1]})
        assert {frozenset(os.sched_getaffinity(int(t.name))) for t in tasks.iterdir()} == {frozenset({allowed[-1]})}
    finally:
        child.kill()
