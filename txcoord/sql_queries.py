"""Named SQL statements kept in ``.sql`` files next to the store code that runs them.

A file holds blocks headed ``-- name: some_query``; ``load_queries`` returns ``{"some_query": "SELECT ..."}``,
read once at import, so Python code says ``QUERIES["claim_due"]`` and never builds SQL strings."""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(path: Path) -> dict[str, str]:
    text = path.read_text()
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{path}: query {name!r} is defined twice")
        statement = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        queries[name] = statement.strip().rstrip(";")
    return queries
