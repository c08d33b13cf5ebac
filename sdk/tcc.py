"""``@tcc``: a TCC action is a try function with a confirm and a cancel attached.

    @tcc(service="bank")
    async def debit(ctx: TccContext, account: str, amount: int) -> dict: ...   # try

    @debit.confirm
    async def _(ctx: TccContext, account: str, amount: int) -> None: ...

    @debit.cancel
    async def _(ctx: TccContext, account: str, amount: int) -> None: ...

Arguments and results are JSON values validated against the functions' type hints (pydantic), on the
caller's side before anything is registered and again in the participant. Confirm and cancel receive the
arguments the try received. Callers run actions through ``tx.call(debit, account="A", amount=10)``; a
participant serves them with :class:`sdk.participant.Participant`."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import pydantic
import pydantic_core
from pydantic_core import to_jsonable_python

from sdk.errors import TxcError
from sdk.tcc_wire import Op

R = TypeVar("R")
PhaseFn = Callable[..., Awaitable[Any]]


class TccDefinitionError(TxcError, TypeError):
    """A ``@tcc`` action is defined or used wrongly (missing confirm/cancel, mismatched parameters, ...)."""


class TccArgumentError(TxcError, ValueError):
    """Arguments or a result do not match the action's type hints, or are not JSON values."""


@dataclass
class TccContext:
    """What a phase function gets first: which branch it runs for, and the barrier's connection.

    ``conn`` is the connection of the local transaction that also holds the barrier row when the
    participant uses a barrier (asyncpg connection or aiomysql connection); run the business SQL on it."""

    gid: str
    branch_id: str
    op: Op
    service: str
    action: str
    conn: Any = None


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:
        raise TccDefinitionError(f"cannot read the type hints of {fn.__qualname__}: {exc}") from exc


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise TccDefinitionError(f"{fn.__qualname__} must take the TccContext as its first parameter (ctx)")
    for p in params[1:]:
        if p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            raise TccDefinitionError(f"{fn.__qualname__}: parameter {p.name!r} must be a plain keyword parameter")
    return params[1:]


class _Signature:
    """Validation of one phase function's arguments (a pydantic model of its parameters) and result."""

    def __init__(self, fn: PhaseFn) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TccDefinitionError(f"{fn.__qualname__} must be an async function (async def)")
        self.fn = fn
        hints = _hints(fn)
        self.params = _parameters(fn)
        fields: dict[str, Any] = {}
        for p in self.params:
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints.get(p.name, Any), default)
        self.model = pydantic.create_model(  # type: ignore[call-overload]
            f"{fn.__name__}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        returns = hints.get("return", Any)
        self.result = pydantic.TypeAdapter(returns) if returns is not type(None) else None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def args(self, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validated arguments, as JSON values."""
        try:
            model = self.model.model_validate(kwargs)
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: invalid arguments: {_errors(exc)}") from None
        return {name: to_jsonable_python(getattr(model, name)) for name in self.names}

    def python_args(self, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validated arguments as the Python types the function declares."""
        try:
            model = self.model.model_validate(kwargs)
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: invalid arguments: {_errors(exc)}") from None
        return {name: getattr(model, name) for name in self.names}

    def json_result(self, where: str, value: Any) -> Any:
        if self.result is None:
            return None
        try:
            return to_jsonable_python(self.result.validate_python(value))
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: result does not match its type hint: {_errors(exc)}") from None
        except pydantic_core.PydanticSerializationError as exc:
            raise TccArgumentError(f"{where}: result is not a JSON value: {exc}") from None


def _errors(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(arguments)"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


class TccAction(Generic[R]):
    """A TCC action: try (the decorated function), plus ``confirm`` and ``cancel`` attached to it."""

    def __init__(self, fn: Callable[..., Awaitable[R]], *, name: str | None = None, service: str | None = None):
        self.name = name or fn.__name__
        self.service = service
        self._try = _Signature(fn)
        self._confirm: _Signature | None = None
        self._cancel: _Signature | None = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<tcc action {self.service or '?'}.{self.name}>"

    def _attach(self, phase: str, fn: PhaseFn) -> _Signature:
        sig = _Signature(fn)
        if sig.names != self._try.names:
            raise TccDefinitionError(
                f"{fn.__qualname__} ({phase} of {self.name}) must take the same parameters as the try: "
                f"({', '.join(self._try.names)}), not ({', '.join(sig.names)})"
            )
        return sig

    def confirm(self, fn: PhaseFn) -> PhaseFn:
        """Decorator: the confirm of this action."""
        self._confirm = self._attach("confirm", fn)
        return fn

    def cancel(self, fn: PhaseFn) -> PhaseFn:
        """Decorator: the cancel of this action."""
        self._cancel = self._attach("cancel", fn)
        return fn

    def on(self, service: str) -> TccAction[R]:
        """The same action served by another service (same code deployed under another name)."""
        bound = TccAction.__new__(TccAction)
        bound.__dict__.update(self.__dict__)
        bound.service = service
        return bound

    def check_complete(self) -> None:
        missing = [p for p, sig in (("confirm", self._confirm), ("cancel", self._cancel)) if sig is None]
        if missing:
            raise TccDefinitionError(
                f"tcc action {self.name!r} has no {' and no '.join(missing)}: "
                + " and ".join(f"decorate one with @{self.name}.{p}" for p in missing)
            )

    def phase(self, op: Op) -> _Signature:
        sig = {"try": self._try, "confirm": self._confirm, "cancel": self._cancel}[op]
        if sig is None:
            self.check_complete()
        assert sig is not None
        return sig

    def where(self, op: Op = "try") -> str:
        label = f"{self.service}.{self.name}" if self.service else self.name
        return label if op == "try" else f"{label}.{op}"

    def validate_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The try's arguments checked against its type hints, as JSON values (raises TccArgumentError)."""
        return self._try.args(self.where(), kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TccDefinitionError(
            f"{self.name} is a TCC action: run it inside a global transaction, "
            f"`async with coordinator.transaction() as tx: await tx.call({self.name}, ...)`"
        )


@overload
def tcc(fn: Callable[..., Awaitable[R]], /) -> TccAction[R]: ...


@overload
def tcc(
    *, name: str | None = None, service: str | None = None
) -> Callable[[Callable[..., Awaitable[R]]], TccAction[R]]: ...


def tcc(
    fn: Callable[..., Awaitable[R]] | None = None, /, *, name: str | None = None, service: str | None = None
) -> TccAction[R] | Callable[[Callable[..., Awaitable[R]]], TccAction[R]]:
    """Make ``fn`` the try of a TCC action; use bare (``@tcc``) or with options (``@tcc(service="bank")``).

    ``name`` defaults to the function's name; ``service`` is the registry name of the participant that serves
    it (callers can also pick one per call with ``action.on("bank-b")``)."""
    if fn is not None:
        return TccAction(fn, name=name, service=service)

    def decorate(f: Callable[..., Awaitable[R]]) -> TccAction[R]:
        return TccAction(f, name=name, service=service)

    return decorate


def as_action(value: Any) -> TccAction[Any]:
    """``value`` as a TCC action, or an error naming the decorator it lacks."""
    if isinstance(value, TccAction):
        return value
    name = getattr(value, "__qualname__", repr(value))
    raise TccDefinitionError(f"{name} is not a TCC action: decorate its try with @tcc and add @.confirm / @.cancel")
