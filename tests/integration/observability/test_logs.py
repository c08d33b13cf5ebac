"""`--log-format json` on a real coordinator: every line is a JSON object, and what it logs about a transaction
carries the transaction's gid."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sdk import CoordinatorClient
from tests.support import ChildProcess, create_pg_database, drop_pg_database, free_port, start_process
from tests.support.polling import eventually
from txcoord.store.migrations import upgrade


@pytest.fixture
async def store() -> AsyncIterator[str]:
    dsn = await create_pg_database("txc_logs")
    await asyncio.to_thread(upgrade, dsn)
    yield dsn
    await drop_pg_database(dsn)


def _lines(proc: ChildProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.log_path.read_text().splitlines() if line.strip()]


async def test_json_log_lines_of_a_coordinator_carry_the_gid(
    tmp_path: Path, processes: list[ChildProcess], store: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    args = ["txc", "coordinator", "--listen", address, "--store", store, "--log-format", "json"]
    proc = start_process([*args, "--phase2-timeout", "1"], tmp_path / "logs", "coordinator")
    processes.append(proc)
    proc.wait_serving(address)
    async with CoordinatorClient(address, timeout=10.0) as client:
        gid = "logs-" + str(free_port())
        # a branch of a service nobody serves: phase 2 fails and says so in the log, with the gid in context
        await client.register_branch(gid, "1", "ghost", "debit", {"amount": 1}, tx_timeout=30)
        await client.commit(gid)

    def failure_line() -> dict[str, Any] | None:
        return next((line for line in _lines(proc) if line.get("gid") == gid and "failed" in line["message"]), None)

    line = await eventually(failure_line, 30, "a JSON line about the failed confirm")
    assert line["level"] == "INFO" and line["logger"].startswith("txcoord")
    assert {"time", "level", "logger", "message"} <= set(line)
    assert all({"time", "level", "logger", "message"} <= set(other) for other in _lines(proc))
