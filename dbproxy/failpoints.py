"""Crash points for tests that must kill the proxy at an exact step of a commit (chaos tests, crash tests).

``DBPROXY_FAILPOINTS=xa_after_prepare`` makes the process SIGKILL itself the first time it reaches that point:
a real crash (nothing is flushed or closed), at a moment no outside signal could hit reliably.
``DBPROXY_FAILPOINTS=xa_commit_first_branch_only`` is a deliberately broken build (``broken``): after the commit
decision only the first written branch is committed and the others are rolled back, so the chaos checkers can
show they catch a non-atomic commit. Unset, a failpoint costs one set lookup."""

from __future__ import annotations

import os
import signal

ACTIVE = frozenset(name for name in os.environ.get("DBPROXY_FAILPOINTS", "").split(",") if name)


def crash_point(name: str) -> None:
    if name in ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)


def broken(name: str) -> bool:
    """A test-only switch that makes the proxy misbehave on purpose; never set outside tests."""
    return name in ACTIVE
