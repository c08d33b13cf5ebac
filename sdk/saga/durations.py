"""Durations in saga YAML: ``250ms``, ``10s``, ``5m``, ``2h``, or a plain number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
HINT = "write a number with a unit, e.g. 500ms, 30s, 5m or 1h"


def parse_duration(value: object) -> float | None:
    """Seconds, or None if ``value`` is not a positive duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            return None
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    else:
        return None
    return seconds if seconds > 0 else None


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
