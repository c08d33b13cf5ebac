"""Failpoints: named spots where a test makes a process crash or misbehave on purpose, switched on by an
environment variable (a comma-separated list of names) read once at start.

``crash_point(name)``: the process SIGKILLs itself there (a real crash: nothing is flushed or closed), at a moment
no outside signal could hit reliably. ``broken(name)``: a deliberately broken build, so that a harness's checkers
can show they catch what it breaks; never set outside tests. Unset, a failpoint costs one set lookup."""

from __future__ import annotations

import os
import signal


class Failpoints:
    def __init__(self, variable: str) -> None:
        self.variable = variable
        self.active = frozenset(name for name in os.environ.get(variable, "").split(",") if name)

    def crash_point(self, name: str) -> None:
        if name in self.active:
            os.kill(os.getpid(), signal.SIGKILL)

    def broken(self, name: str) -> bool:
        """A test-only switch that makes the process misbehave on purpose."""
        return name in self.active
