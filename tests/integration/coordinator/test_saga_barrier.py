"""Saga steps served with the barrier on the real databases, PostgreSQL (asyncpg) and MariaDB (aiomysql):
the action is the barrier's try and the compensation its cancel, and a duplicate action answers the first
run's output. Saga outputs are stored by the two shipped drivers only (``sdk/saga/outputs.py``), so the third,
test-written driver of the barrier contract gets a clear refusal instead."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from sdk import SagaContext, saga_step
from sdk.barrier import BarrierError
from sdk.errors import RpcError
from tests.integration.coordinator.test_barrier import ledger  # noqa: F401 - the fixture, three drivers

SHIPPED_DRIVERS = pytest.mark.parametrize("ledger", ["postgresql", "mysql"], indirect=True)

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


@SHIPPED_DRIVERS
async def test_a_resent_action_runs_once_and_answers_the_first_runs_output(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    first = await h["reserve"](_body("sg1"), None)
    again = await h["reserve"](_body("sg1"), None)
    assert first["barrier"] == "applied" and again["barrier"] == "duplicate"
    assert again["result"] == first["result"]  # recorded with the action, in its local transaction
    assert await ledger.counts() == {"action": 1}


@SHIPPED_DRIVERS
async def test_compensation_after_the_action_undoes_it_once(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    out = (await h["reserve"](_body("sg2"), None))["result"]
    assert (await h["release"](_body("sg2", out), None))["barrier"] == "applied"
    assert (await h["release"](_body("sg2", out), None))["barrier"] == "duplicate"
    assert await ledger.counts() == {"action": 1, "compensation": 1}


@SHIPPED_DRIVERS
async def test_compensation_first_is_empty_and_the_late_action_is_refused(ledger: Any) -> None:  # noqa: F811
    h = _handlers(ledger)
    assert (await h["release"](_body("sg3"), None))["barrier"] == "empty_cancel"
    with pytest.raises(RpcError) as refused:
        await h["reserve"](_body("sg3"), None)
    assert refused.value.code == grpc.StatusCode.ABORTED
    assert await ledger.counts() == {}


@pytest.mark.parametrize("ledger", ["sqlalchemy"], indirect=True)
async def test_a_driver_without_output_storage_is_refused_when_the_step_is_served(ledger: Any) -> None:  # noqa: F811
    with pytest.raises(BarrierError, match="saga step outputs need a PgBarrier or MySqlBarrier"):
        _handlers(ledger)
