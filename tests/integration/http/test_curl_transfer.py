"""docs/http.md's transfer with curl only, run verbatim: the block in the page is what this test executes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.coordinator.cluster import Cluster, accounts
from tests.integration.http.conftest import http_bank
from tests.support import free_port
from tests.support.polling import eventually

NewDb = Callable[..., Awaitable[str]]
PAGE = Path(__file__).resolve().parents[3] / "docs" / "http.md"
KEY = "branch-key-for-tests-0123456789"


def curl_block() -> str:
    text = PAGE.read_text()
    blocks = re.findall(r"## A transfer with curl only.*?```sh\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/http.md must hold one sh block under 'A transfer with curl only'"
    return blocks[0]


async def test_the_documented_curl_transfer_commits_and_the_openapi_document_is_the_checked_in_one(
    cluster: Cluster, new_db: NewDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TXC_BRANCH_KEY", KEY)
    rest = f"127.0.0.1:{free_port()}"
    cluster.coordinator("--http-listen", rest)
    db_a, db_b = await new_db(), await new_db()
    bank_a = await http_bank(cluster, "bank-a", db_a, "A=100")
    bank_b = await http_bank(cluster, "bank-b", db_b, "B=0")
    env = {**os.environ, "TXC": f"http://{rest}", "BANK_A": bank_a.listen, "BANK_B": bank_b.listen}  # type: ignore[attr-defined]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", curl_block()], env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = re.search(r"(curl-\d+-\d+) (\w+)\s*$", done.stdout)
    assert last is not None, done.stdout
    gid, state = last.groups()
    assert state == "COMMITTED", done.stdout

    async def confirmed() -> bool:
        return await accounts(db_b) == {"B": (10, 0, 0)}

    await eventually(confirmed, what="both confirms delivered over HTTP")
    assert await accounts(db_a) == {"A": (90, 0, 0)}
    async with httpx.AsyncClient() as http:
        detail = (await http.get(f"http://{rest}/v1/transactions/{gid}")).json()
        served = (await http.get(f"http://{rest}/openapi.json")).json()
    assert "branches" in detail, detail
    assert sorted(b["service"] for b in detail["branches"]) == ["bank-a", "bank-b"]
    # the OpenAPI document served is the one checked in
    checked_in = json.loads((PAGE.parent / "openapi.json").read_text())
    assert served == checked_in, "regenerate docs/openapi.json: python -m txcoord.rest.openapi > docs/openapi.json"
