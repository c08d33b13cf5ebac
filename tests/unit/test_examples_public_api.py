"""User code — the examples, the demo's participants and the tutorials' files — imports only the public ``sdk``
(issue 23): what it shows a user is what a user can import."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(# file: .*?)^```", re.MULTILINE | re.DOTALL)


def _sources() -> dict[str, str]:
    files = {str(p.relative_to(REPO)): p.read_text() for d in ("examples", "demo") for p in (REPO / d).rglob("*.py")}
    for page in (REPO / "docs").glob("*.md"):
        for n, body in enumerate(BLOCK.findall(page.read_text())):
            files[f"{page.name} block {n + 1}"] = body
    return files


def test_user_code_imports_only_the_public_sdk() -> None:
    private = []
    for where, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
            private += [f"{where}: {m}" for m in modules if m.startswith("sdk.")]
    assert private == [], "user code must import from `sdk` only"
    assert len(_sources()) >= 8
