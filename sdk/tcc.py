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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sdk.errors import DefinitionError, UsageError
from sdk.tcc_wire import Op

if TYPE_CHECKING:
    import pydantic

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")
PhaseFn = Callable[..., Awaitable[Any]]


class TccDefinitionError(DefinitionError):
    """A ``@tcc`` action is defined or used wrongly (missing confirm/cancel, mismatched parameters, ...)."""


class TccArgumentError(UsageError, ValueError):
    """Arguments or a result do not match the action's type hints, or are not JSON values."""


@dataclass
class TccContext(Generic[C]):
    """What a phase function gets first: which branch it runs for, and the barrier's connection.

    ``conn`` is the connection of the local transaction that also holds the barrier row when the
    participant uses a barrier; run the business SQL on it. Annotate the phase's first parameter with the
    connection type your barrier hands out (``TccContext[asyncpg.Connection]`` with ``PgBarrier``,
    ``TccContext[aiomysql.Connection]`` with ``MySqlBarrier``) and ``ctx.conn`` is typed; it is None when the
    participant has no barrier."""

    gid: str
    branch_id: str
    op: Op
    service: str
    action: str
    conn: C = None  # type: ignore[assignment]  # set by the participant before the phase runs


def _hints(fn: Callable[..., Any], error: type[DefinitionError] = DefinitionError) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:
        raise error(f"cannot read the type hints of {fn.__qualname__}: {exc}") from exc


def _parameters(
    fn: Callable[..., Any], hints: dict[str, Any], context: type, error: type[DefinitionError]
) -> list[inspect.Parameter]:
    """The parameters after the context, refused now if the protocol could not call ``fn`` with them."""
    params = list(inspect.signature(fn).parameters.values())
    ctx = f"ctx: {context.__name__}[...]" if context is TccContext else f"ctx: {context.__name__}"
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise error(f"{fn.__qualname__} must take the {context.__name__} as its first parameter ({ctx})")
    first = hints.get(params[0].name)
    if first not in (None, Any, object) and (typing.get_origin(first) or first) is not context:
        # the protocol passes the context first: `reserve(order_id: str, ...)` would get it as order_id
        raise error(
            f"{fn.__qualname__}: its first parameter is the {context.__name__} the protocol passes, but "
            f"{params[0].name!r} is annotated {getattr(first, '__name__', first)!s}; add `{ctx}` before it"
        )
    for p in params[1:]:
        if p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            raise error(f"{fn.__qualname__}: parameter {p.name!r} must be a plain keyword parameter")
    return params[1:]


class _Signature:
    """Validation of one phase function's arguments (a pydantic model of its parameters) and result."""

    def __init__(
        self, fn: PhaseFn, *, context: type = TccContext, error: type[DefinitionError] = TccDefinitionError
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise error(f"{fn.__qualname__} must be an async function (async def)")
        import pydantic  # here, not at the top: `import sdk` stays cheap until an action is defined

        self.fn = fn
        hints = _hints(fn, error)
        self.params = _parameters(fn, hints, context, error)
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
        import pydantic
        from pydantic_core import to_jsonable_python

        try:
            model = self.model.model_validate(kwargs)
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: invalid arguments: {_errors(exc)}") from None
        return {name: to_jsonable_python(getattr(model, name)) for name in self.names}

    def python_args(self, where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validated arguments as the Python types the function declares."""
        import pydantic

        try:
            model = self.model.model_validate(kwargs)
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: invalid arguments: {_errors(exc)}") from None
        return {name: getattr(model, name) for name in self.names}

    def json_result(self, where: str, value: Any) -> Any:
        import pydantic
        import pydantic_core

        if self.result is None:
            return None
        try:
            return pydantic_core.to_jsonable_python(self.result.validate_python(value))
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{where}: result does not match its type hint: {_errors(exc)}") from None
        except pydantic_core.PydanticSerializationError as exc:
            raise TccArgumentError(f"{where}: result is not a JSON value: {exc}") from None


def parse_envelope(
    where: str,
    body: Any,
    *,
    branch_id_rule: str = "must be a non-empty string",
    args_are: str = "the action's arguments",
) -> tuple[str, str, dict[str, Any]]:
    """The gid, branch id and args of a call's body (the barrier's envelope, ``sdk.tcc_wire``), for a TCC phase
    and a saga step alike; ``TccArgumentError`` names what is wrong, in the caller's words."""
    if not isinstance(body, Mapping):
        raise TccArgumentError(f"{where}: body must be a JSON object with gid, branch_id and args")
    gid, branch_id, args = body.get("gid"), body.get("branch_id"), body.get("args", {})
    if not isinstance(gid, str) or not gid:
        raise TccArgumentError(f"{where}: gid: must be a non-empty string")
    if not isinstance(branch_id, str) or not branch_id:
        raise TccArgumentError(f"{where}: branch_id: {branch_id_rule}")
    if not isinstance(args, Mapping):
        raise TccArgumentError(f"{where}: args: must be a JSON object of {args_are}")
    return gid, branch_id, dict(args)


def _errors(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(arguments)"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)


TryFn = Callable[Concatenate[TccContext[Any], P], Awaitable[R]]
# confirm and cancel take the try's parameters; what they return is ignored
PhaseOf = Callable[Concatenate[TccContext[Any], P], Awaitable[object]]


class TccAction(Generic[P, R]):
    """A TCC action: try (the decorated function), plus ``confirm`` and ``cancel`` attached to it.

    Typed by the try: ``P`` its parameters after ``ctx``, ``R`` its result, so ``tx.call(debit, account="A",
    amount=10)`` is checked like a call of the try and returns what the try returns."""

    def __init__(self, fn: TryFn[P, R], *, name: str | None = None, service: str | None = None):
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

    def confirm(self, fn: PhaseOf[P]) -> PhaseOf[P]:
        """Decorator: the confirm of this action."""
        self._confirm = self._attach("confirm", fn)
        return fn

    def cancel(self, fn: PhaseOf[P]) -> PhaseOf[P]:
        """Decorator: the cancel of this action."""
        self._cancel = self._attach("cancel", fn)
        return fn

    def on(self, service: str) -> TccAction[P, R]:
        """The same action served by another service (same code deployed under another name)."""
        bound = TccAction.__new__(TccAction)
        bound.__dict__.update(self.__dict__)
        bound.service = service
        return bound

    def check_complete(self) -> None:
        """Raise ``TccDefinitionError`` unless confirm and cancel are attached (a participant checks it when built)."""
        missing = [p for p, sig in (("confirm", self._confirm), ("cancel", self._cancel)) if sig is None]
        if missing:
            raise TccDefinitionError(
                f"tcc action {self.name!r} has no {' and no '.join(missing)}: "
                + " and ".join(f"decorate one with @{self.name}.{p}" for p in missing)
            )

    def phase(self, op: Op) -> _Signature:
        """The signature (function, argument and result validation) of phase ``op``."""
        sig = {"try": self._try, "confirm": self._confirm, "cancel": self._cancel}[op]
        if sig is None:
            self.check_complete()
        assert sig is not None
        return sig

    def where(self, op: Op = "try") -> str:
        """``service.action[.op]``: how errors and logs name this phase."""
        label = f"{self.service}.{self.name}" if self.service else self.name
        return label if op == "try" else f"{label}.{op}"

    def validate_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The try's arguments checked against its type hints, as JSON values (raises TccArgumentError)."""
        return self._try.args(self.where(), kwargs)

    def bind_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Positional and keyword arguments of a call as the try's keyword arguments, validated as JSON values."""
        names = self._try.names
        if len(args) > len(names):
            raise TccArgumentError(
                f"{self.where()}: takes {len(names)} arguments ({', '.join(names)}), got {len(args)}"
            )
        named = dict(zip(names, args, strict=False))
        twice = sorted(set(named) & set(kwargs))
        if twice:
            raise TccArgumentError(f"{self.where()}: argument {twice[0]!r} given twice")
        return self.validate_args({**named, **kwargs})

    def parse_result(self, value: Any) -> R:
        """The try's JSON result as the type the try declares (a dataclass or model comes back as one)."""
        import pydantic

        if self._try.result is None:
            return value  # type: ignore[no-any-return]
        try:
            return self._try.result.validate_python(value)  # type: ignore[no-any-return]
        except pydantic.ValidationError as exc:
            raise TccArgumentError(f"{self.where()}: result does not match its type hint: {_errors(exc)}") from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TccDefinitionError(
            f"{self.name} is a TCC action: run it inside a global transaction, "
            f"`async with coordinator.transaction() as tx: await tx.call({self.name}, ...)`"
        )


@overload
def tcc(fn: TryFn[P, R], /) -> TccAction[P, R]: ...


@overload
def tcc(*, name: str | None = None, service: str | None = None) -> Callable[[TryFn[P, R]], TccAction[P, R]]: ...


def tcc(
    fn: TryFn[P, R] | None = None, /, *, name: str | None = None, service: str | None = None
) -> TccAction[P, R] | Callable[[TryFn[P, R]], TccAction[P, R]]:
    """Make ``fn`` the try of a TCC action; use bare (``@tcc``) or with options (``@tcc(service="bank")``).

    ``name`` defaults to the function's name; ``service`` is the registry name of the participant that serves
    it (callers can also pick one per call with ``action.on("bank-b")``)."""
    if fn is not None:
        return TccAction(fn, name=name, service=service)

    def decorate(f: TryFn[P, R]) -> TccAction[P, R]:
        return TccAction(f, name=name, service=service)

    return decorate


def as_action(value: Any) -> TccAction[Any, Any]:
    """``value`` as a TCC action, or an error naming the decorator it lacks."""
    if isinstance(value, TccAction):
        return value
    name = getattr(value, "__qualname__", repr(value))
    raise TccDefinitionError(f"{name} is not a TCC action: decorate its try with @tcc and add @.confirm / @.cancel")
