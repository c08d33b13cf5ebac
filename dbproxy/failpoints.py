"""Crash points for tests that must kill the proxy at an exact step of a commit (chaos tests, crash tests).

``DBPROXY_FAILPOINTS=xa_after_prepare`` makes the process SIGKILL itself the first time it reaches that point:
a real crash (nothing is flushed or closed), at a moment no outside signal could hit reliably. Unset, a
failpoint costs one set lookup."""

from __future__ import annotations

import os
import signal

ACTIVE = frozenset(name for name in os.environ.get("DBPROXY_FAILPOINTS", "").split(",") if name)


def crash_point(name: str) -> None:
    if name in ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
