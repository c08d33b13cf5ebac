"""One exception family for callers (issue 23): everything derives from TxcError, every gRPC status a caller can
see lands in exactly one of BusinessError / InfrastructureError, and the README's "Errors" table is what a
mypy-checked caller (typing_cases/errors_ok.py) catches."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

import sdk
from sdk.errors import BusinessError, InfrastructureError, NoEndpoints, TxcError, UsageError, rpc_error

REPO = Path(__file__).resolve().parents[3]
CASE = Path(__file__).with_name("typing_cases") / "errors_ok.py"


def _readme_families() -> dict[str, list[str]]:
    """family -> the names the README's "Errors" table lists for it."""
    section = (REPO / "README.md").read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    families: dict[str, list[str]] = {}
    for row in re.findall(r"^\| `\w+` \|.*$", section, re.MULTILINE):
        cells = row.strip("|").split("|")
        families[cells[0].strip(" `")] = re.findall(r"`(\w+)`", cells[-1])
    return families


def test_the_readme_lists_three_families_and_each_name_is_in_its_family() -> None:
    families = _readme_families()
    assert list(families) == ["BusinessError", "InfrastructureError", "UsageError"]
    for family, members in families.items():
        assert members, family
        for name in members:
            assert issubclass(getattr(sdk, name), getattr(sdk, family)), (name, family)


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK], ids=lambda c: c.name)
def test_every_status_is_a_business_refusal_or_an_infrastructure_failure_never_both(code: grpc.StatusCode) -> None:
    error = rpc_error(code, "details")
    assert isinstance(error, TxcError)
    assert isinstance(error, BusinessError) != isinstance(error, InfrastructureError), code
    assert not isinstance(error, UsageError)


async def test_what_the_issue_saw_crash_the_readme_caller_is_in_a_family_it_catches() -> None:
    assert issubclass(sdk.TryFailed, BusinessError)
    assert isinstance(NoEndpoints("paymnt"), InfrastructureError)
    assert issubclass(sdk.TransportError, InfrastructureError)
    assert issubclass(sdk.TccArgumentError, UsageError)
    async with sdk.CoordinatorClient("127.0.0.1:1") as client:
        with pytest.raises(UsageError, match="timeout: must be > 0"):
            client.transaction(timeout=0)


def test_a_caller_catching_every_listed_family_passes_mypy() -> None:
    names = {
        node.id
        for handler in ast.walk(ast.parse(CASE.read_text()))
        if isinstance(handler, ast.ExceptHandler) and handler.type is not None
        for node in ast.walk(handler.type)
        if isinstance(node, ast.Name)
    }
    for family, members in _readme_families().items():
        missing = {family, *members} - names
        assert not missing, f"{CASE.name} does not catch {sorted(missing)}"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", str(CASE.relative_to(REPO))],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
