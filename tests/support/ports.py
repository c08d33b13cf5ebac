"""Free TCP ports for test servers (the process harness picks them the same way)."""

from __future__ import annotations

from sdk.processes import free_port

__all__ = ["free_port"]
