"""Participant interceptors: one ActionCall per phase call, first interceptor outermost, around every phase."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
import pytest

from sdk import ActionCall, ActionReply, BarrierOutcome, Participant, Proceed, RpcError, TccContext, tcc

calls: list[tuple[str, int]] = []


@tcc
async def reserve(ctx: TccContext[None], item: str, qty: int = 1) -> dict[str, int]:
    calls.append(("try", qty))
    return {item: qty}


@reserve.confirm
async def _confirm(ctx: TccContext[None], item: str, qty: int = 1) -> None:
    calls.append(("confirm", qty))


@reserve.cancel
async def _cancel(ctx: TccContext[None], item: str, qty: int = 1) -> None:
    calls.append(("cancel", qty))


def _participant(*interceptors: Any) -> dict[str, Any]:
    calls.clear()
    return Participant("stock", [reserve], interceptors=interceptors).handlers()


async def test_interceptors_see_one_action_call_and_wrap_in_order() -> None:
    seen: list[str] = []

    def recorder(label: str) -> Any:
        async def record(call: ActionCall, proceed: Proceed) -> ActionReply:
            seen.append(f"{label}>{call.op}")
            reply = await proceed(call)
            seen.append(f"{label}<{reply.barrier}")
            return reply

        return record

    captured: list[ActionCall] = []

    async def capture(call: ActionCall, proceed: Proceed) -> ActionReply:
        captured.append(call)
        return await proceed(call)

    handlers = _participant(recorder("outer"), recorder("inner"), capture)
    reply = await handlers["reserve"]({"gid": "g1", "branch_id": "1", "args": {"item": "pen", "qty": "3"}}, None)
    assert reply == {"result": {"pen": 3}, "barrier": "applied"}
    assert seen == ["outer>try", "inner>try", "inner<applied", "outer<applied"]
    assert captured == [ActionCall("g1", "1", "try", "stock", "reserve", {"item": "pen", "qty": 3})]


async def test_an_interceptor_can_inject_a_fault_or_change_the_arguments() -> None:
    async def refuse_tries(call: ActionCall, proceed: Proceed) -> ActionReply:
        if call.op == "try":
            raise RuntimeError("injected")
        return await proceed(dataclasses.replace(call, arguments={**call.arguments, "qty": 9}))

    handlers = _participant(refuse_tries)
    with pytest.raises(RpcError, match="interceptor: RuntimeError: injected") as refused:
        await handlers["reserve"]({"gid": "g1", "branch_id": "1", "args": {"item": "pen"}}, None)
    assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION  # a failed try: the caller rolls back
    assert calls == []
    await handlers["reserve.cancel"]({"gid": "g1", "branch_id": "1", "args": {"item": "pen"}}, None)
    assert calls == [("cancel", 9)]


async def test_phase_two_batches_go_through_the_interceptors_too() -> None:
    ops: list[tuple[str, str]] = []

    async def record(call: ActionCall, proceed: Proceed) -> ActionReply:
        ops.append((call.branch_id, call.op))
        if call.branch_id == "2":
            raise RpcError(grpc.StatusCode.UNAVAILABLE, "injected")
        return ActionReply(None, BarrierOutcome.DUPLICATE)  # answered without running the phase

    handlers = _participant(record)
    items = [
        {"op": "confirm", "action": "reserve", "gid": "g", "branch_id": "1", "args": {"item": "a"}},
        {"op": "cancel", "action": "reserve", "gid": "g", "branch_id": "2", "args": {"item": "b"}},
    ]
    reply = await handlers["txc.phase2"]({"items": items}, None)
    assert sorted(ops) == [("1", "confirm"), ("2", "cancel")]
    assert reply["results"][0] == {"ok": True, "barrier": "duplicate"}
    assert reply["results"][1]["ok"] is False and reply["results"][1]["code"] == "UNAVAILABLE"
    assert calls == []
