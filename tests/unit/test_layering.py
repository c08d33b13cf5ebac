"""The dependency direction of DESIGN.md, checked on the source: sdk <- txcoord, sdk <- dbproxy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = {"sdk", "txcoord", "dbproxy", "chaos", "bench", "txc", "sql"}
ALLOWED = {
    "sdk": set(),
    "sql": set(),
    "txcoord": {"sdk", "sql"},
    "dbproxy": {"sdk"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Our top-level packages each module of ``package`` imports, by module path."""
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        if "_proto" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = (names & OURS) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_design_allows(package: str) -> None:
    offending = {
        module: sorted(used - ALLOWED[package])
        for module, used in imported_packages(package).items()
        if used - ALLOWED[package]
    }
    assert offending == {}, f"{package} must not import these: {offending}"


def test_only_the_coordination_adapter_of_dbproxy_imports_sdk() -> None:
    """DESIGN.md: one adapter module in dbproxy talks to the coordinator; the rest of the proxy is free of gRPC."""
    users = sorted(module for module, used in imported_packages("dbproxy").items() if "sdk" in used)
    assert users == ["dbproxy/coordination.py"]
