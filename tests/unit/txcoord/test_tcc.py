"""The @tcc decorator: bare or with options, complete definitions, type-hint validation."""

from __future__ import annotations

import pytest

from sdk.participant import Participant
from sdk.tcc import TccArgumentError, TccContext, TccDefinitionError, tcc


@tcc
async def reserve(ctx: TccContext, item: str, qty: int = 1) -> dict[str, int]:
    return {item: qty}


@reserve.confirm
async def _confirm(ctx: TccContext, item: str, qty: int = 1) -> None: ...


@reserve.cancel
async def _cancel(ctx: TccContext, item: str, qty: int = 1) -> None: ...


def test_bare_and_with_options() -> None:
    assert reserve.name == "reserve" and reserve.service is None

    @tcc(name="hold", service="stock")
    async def other(ctx: TccContext, item: str) -> None: ...

    assert other.name == "hold" and other.service == "stock"
    assert reserve.on("stock-2").service == "stock-2" and reserve.service is None


def test_arguments_are_validated_against_type_hints_with_a_clear_error() -> None:
    assert reserve.on("stock").validate_args({"item": "apple"}) == {"item": "apple", "qty": 1}
    with pytest.raises(TccArgumentError, match=r"stock\.reserve: invalid arguments: qty: .*integer.*'many'"):
        reserve.on("stock").validate_args({"item": "apple", "qty": "many"})
    with pytest.raises(TccArgumentError, match="item: Field required"):
        reserve.validate_args({})
    with pytest.raises(TccArgumentError, match="colour: Extra inputs are not permitted"):
        reserve.validate_args({"item": "apple", "colour": "red"})


def test_confirm_and_cancel_must_take_the_tries_parameters() -> None:
    @tcc
    async def book(ctx: TccContext, seat: str) -> None: ...

    with pytest.raises(TccDefinitionError, match=r"must take the same parameters as the try: \(seat\)"):

        @book.confirm
        async def _(ctx: TccContext, row: int) -> None: ...


def test_a_participant_refuses_an_action_without_cancel() -> None:
    @tcc
    async def half(ctx: TccContext) -> None: ...

    @half.confirm
    async def _(ctx: TccContext) -> None: ...

    with pytest.raises(TccDefinitionError, match=r"has no cancel: decorate one with @half\.cancel"):
        Participant("svc", [half])


def test_calling_an_action_directly_says_how_to_use_it() -> None:
    with pytest.raises(TccDefinitionError, match=r"tx\.call\(reserve"):
        reserve(None, item="x")


def test_phase_functions_must_be_async_and_take_ctx() -> None:
    with pytest.raises(TccDefinitionError, match="async def"):
        tcc(lambda ctx: None)  # type: ignore[arg-type, return-value]

    async def no_ctx() -> None: ...

    with pytest.raises(TccDefinitionError, match="TccContext as its first parameter"):
        tcc(no_ctx)


def test_participant_serves_try_confirm_cancel_per_action() -> None:
    assert sorted(Participant("stock", [reserve]).handlers()) == [
        "reserve",
        "reserve.cancel",
        "reserve.confirm",
        "txc.phase2",
    ]


def test_the_sdk_exports_the_tcc_surface() -> None:
    import sdk

    assert {
        "tcc",
        "TccAction",
        "TccContext",
        "TccArgumentError",
        "TccDefinitionError",
        "Participant",
        "CoordinatorClient",
        "GlobalTransaction",
        "TryFailed",
        "PgBarrier",
        "MySqlBarrier",
        "BarrierOutcome",
        "BarrierRefused",
    } <= set(sdk.__all__)
