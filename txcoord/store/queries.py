"""Named SQL statements of the coordinator store, loaded once from ``queries.sql``."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load(path: Path) -> dict[str, str]:
    """Split a file of ``-- name: X`` sections into {name: statement}."""
    text = path.read_text()
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


QUERIES = load(Path(__file__).with_name("queries.sql"))
