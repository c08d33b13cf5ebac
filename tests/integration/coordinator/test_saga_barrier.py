"""Saga steps served with the barrier on the real databases, PostgreSQL (asyncpg) and MariaDB (aiomysql):
the action is the barrier's try and the compensation its cancel, and a duplicate action answers the first
run's output."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from sdk import SagaContext, saga_step
from sdk.errors import RpcError
from tests.integration.coordinator.test_barrier import ledger  # noqa: F401 - the fixture, both databases

LEDGER: list[Any] = []
RUNS = {"n": 0}


@saga_step
async def reserve(ctx: SagaContext, seats: int) -> dict[str, Any]:
    await LEDGER[0].bump("action")(ctx.conn)
    RUNS["n"] += 1
    return {"seats": seats, "run": RUNS["n"]}


@reserve.compensation
async def release(ctx: SagaContext, seats: int) -> None:
    assert ctx.compensating
    await LEDGER[0].bump("compensation")(ctx.conn)


def _handlers(led: Any) -> dict[str, Any]:
    LEDGER[:] = [led]
    return reserve.handlers("seats", led.barrier)


def _body(gid: str, output: Any = None) -> dict[str, Any]:
    return {"gid": gid, "branch_id": "seat", "args": {"seats": 2}, "output": output}


async def test_a_resent_action_runs_once_and_answers_the_first_runs_output(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    first = await h["reserve"](_body("sg1"), None)
    again = await h["reserve"](_body("sg1"), None)
    assert first["barrier"] == "applied" and again["barrier"] == "duplicate"
    assert again["result"] == first["result"]  # recorded with the action, in its local transaction
    assert await ledger.counts() == {"action": 1}


async def test_compensation_after_the_action_undoes_it_once(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    out = (await h["reserve"](_body("sg2"), None))["result"]
    assert (await h["release"](_body("sg2", out), None))["barrier"] == "applied"
    assert (await h["release"](_body("sg2", out), None))["barrier"] == "duplicate"
    assert await ledger.counts() == {"action": 1, "compensation": 1}


async def test_compensation_first_is_empty_and_the_late_action_is_refused(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    assert (await h["release"](_body("sg3"), None))["barrier"] == "empty_cancel"
    with pytest.raises(RpcError) as refused:
        await h["reserve"](_body("sg3"), None)
    assert refused.value.code == grpc.StatusCode.ABORTED
    assert await ledger.counts() == {}
