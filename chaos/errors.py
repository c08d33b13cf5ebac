"""The chaos harness's one exception family."""

from __future__ import annotations


class ChaosError(Exception):
    """The harness could not set up or run a system (a server would not start, a bad option)."""
