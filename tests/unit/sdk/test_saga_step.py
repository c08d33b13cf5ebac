"""``@saga_step``: bare use, compensation attached by decorator, errors that name what is missing."""

from __future__ import annotations

import pytest

from sdk import Participant, SagaContext, SagaStepError, saga_step
from sdk.saga.step import SagaStep


@saga_step
async def book(ctx: SagaContext, user: str, nights: int = 1) -> dict[str, str]:
    return {"booking_id": f"{user}-{nights}"}


@book.compensation
async def cancel(ctx: SagaContext, user: str, nights: int = 1) -> None:
    return None


@saga_step(name="charge_card")
async def charge(ctx: SagaContext, amount: int) -> int:
    return amount


async def test_the_action_and_its_compensation_are_served_under_their_names() -> None:
    assert isinstance(book, SagaStep) and book.name == "book" and book.compensation_name == "cancel"
    handlers = Participant("flights", [book, charge]).handlers()
    assert {"book", "cancel", "charge_card"} <= set(handlers)
    reply = await handlers["book"]({"gid": "g", "branch_id": "flight", "args": {"user": "ann"}}, None)
    assert reply == {"result": {"booking_id": "ann-1"}, "barrier": "applied"}


def test_a_compensation_must_take_the_actions_parameters() -> None:
    with pytest.raises(SagaStepError, match=r"must take the same parameters as the action: \(user, nights\)"):

        @book.compensation
        async def wrong(ctx: SagaContext, user: str) -> None: ...


def test_calling_a_step_directly_says_how_to_run_it() -> None:
    with pytest.raises(SagaStepError, match="start_saga"):
        book()


def test_a_step_without_its_context_parameter_is_refused_where_it_is_decorated() -> None:
    with pytest.raises(SagaStepError, match=r"'order_id' is annotated str; add `ctx: SagaContext` before it"):

        @saga_step
        async def reserve(order_id: str, quantity: int) -> None: ...
