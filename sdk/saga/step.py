"""``@saga_step``: a participant's saga action with its compensation attached, in the style of ``@tcc``.

    @saga_step                                   # served as action "book" (or @saga_step(name="book"))
    async def book(ctx: SagaContext, user: str, city: str) -> dict[str, str]:
        ...                                      # run SQL on ctx.conn: it commits with the barrier row
        return {"booking_id": ...}

    @book.compensation                           # served as action "cancel_booking" (its function's name)
    async def cancel_booking(ctx: SagaContext, user: str, city: str) -> None:
        ...                                      # ctx.output: what book returned (None if unknown)

In the saga YAML: ``action: flights.book`` and ``compensate: flights.cancel_booking`` for a participant
serving them as service ``flights``. Both get the step's input as keyword arguments, validated against the
functions' type hints. Served with a barrier, the action is the barrier's "try" and the compensation its
"cancel" for (gid, step id): a re-sent action is a no-op that answers the first run's output, an action
arriving after its compensation is refused, and a compensation whose action never ran is empty."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import grpc

from sdk.barrier import Barrier, BarrierOutcome, BarrierRefused
from sdk.errors import RpcError, TxcError
from sdk.infrastructure import infrastructure_refusal, is_infrastructure_failure
from sdk.interceptors import ActionCall, ActionReply, Interceptor, chain
from sdk.saga.errors import SagaStepError
from sdk.saga.outputs import OutputStore, outputs_for
from sdk.tcc import TccArgumentError, _Signature, parse_envelope
from sdk.tcc_wire import Op


class RetryLater(TxcError):
    """Raise from a saga action for a transient failure: the coordinator retries it per the step's ``retry``
    (any other exception is the business saying no, and the saga compensates at once)."""


P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class SagaContext:
    """What a saga action or compensation gets first. ``conn`` is the barrier's local-transaction connection
    (asyncpg or aiomysql) when the participant has a barrier; ``output`` (compensation only) is the action's
    recorded output, or None when the coordinator never received it."""

    gid: str
    step_id: str
    service: str
    action: str
    compensating: bool = False
    output: Any = None
    conn: Any = None


def _body(where: str, body: Any) -> tuple[str, str, dict[str, Any], Any]:
    """The envelope of a step's call, and the action's output a compensation gets."""
    gid, step_id, args = parse_envelope(where, body, branch_id_rule="must be the step id", args_are="the step's input")
    return gid, step_id, args, body.get("output")


Handler = Callable[[Any, Any], Awaitable[Any]]


class SagaStep(Generic[P, R]):
    """A saga action (the decorated function) and, once attached, its compensation."""

    def __init__(self, fn: Callable[Concatenate[SagaContext, P], Awaitable[R]], *, name: str | None = None) -> None:
        self.name = name or fn.__name__
        self._action = _Signature(fn, context=SagaContext, error=SagaStepError)
        self._compensation: _Signature | None = None
        self.compensation_name: str | None = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<saga step {self.name}>"

    def compensation(
        self, fn: Callable[Concatenate[SagaContext, P], Awaitable[Any]], /
    ) -> Callable[Concatenate[SagaContext, P], Awaitable[Any]]:
        """Decorator: the compensation of this action, served under its function's name. It takes the same
        parameters as the action."""

        def attach(f: Callable[Concatenate[SagaContext, P], Awaitable[Any]]) -> Any:
            sig = _Signature(f, context=SagaContext, error=SagaStepError)
            if sig.names != self._action.names:
                raise SagaStepError(
                    f"{f.__qualname__} (compensation of {self.name}) must take the same parameters as the action: "
                    f"({', '.join(self._action.names)}), not ({', '.join(sig.names)})"
                )
            self._compensation = sig
            self.compensation_name = f.__name__
            if self.compensation_name == self.name:
                raise SagaStepError(f"{self.name}: the compensation needs a name of its own")
            return f

        return attach(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise SagaStepError(
            f"{self.name} is a saga step: the coordinator runs it; start the saga with "
            "`await coordinator.start_saga(name, input)`"
        )

    # -- serving -------------------------------------------------------------------------------------------
    def handlers(
        self, service: str, barrier: Barrier | None, interceptors: Sequence[Interceptor] = ()
    ) -> dict[str, Handler]:
        """The generic JSON actions to serve: the action and, if attached, its compensation, each call going
        through ``interceptors`` (first one outermost) around the barrier."""
        outputs = outputs_for(barrier) if barrier is not None else None
        served = {self.name: self._handler(service, barrier, outputs, interceptors, compensating=False)}
        if self._compensation is not None and self.compensation_name is not None:
            served[self.compensation_name] = self._handler(service, barrier, outputs, interceptors, compensating=True)
        return served

    def _handler(
        self,
        service: str,
        barrier: Barrier | None,
        outputs: OutputStore | None,
        interceptors: Sequence[Interceptor],
        *,
        compensating: bool,
    ) -> Handler:
        signature = self._compensation if compensating else self._action
        assert signature is not None
        name = self.compensation_name if compensating else self.name
        where = f"{service}.{name}"
        op: Op = "cancel" if compensating else "try"

        async def handle(body: Any, _context: Any) -> Any:
            gid, step_id, raw_args, output = _body(where, body)
            kwargs = signature.python_args(where, raw_args)

            async def run(call: ActionCall) -> ActionReply:
                ctx = SagaContext(
                    call.gid, call.branch_id, service, str(name), compensating, output if compensating else None
                )

                async def work(conn: Any) -> Any:
                    ctx.conn = conn
                    result = signature.json_result(where, await signature.fn(ctx, **call.arguments))
                    if outputs is not None and not compensating:
                        await outputs.write(conn, call.gid, call.branch_id, result)
                    return result

                try:
                    if barrier is None or outputs is None:
                        return ActionReply(await work(None), BarrierOutcome.APPLIED)
                    await outputs.install()
                    guarded = await barrier.run(call.gid, call.branch_id, op, work)
                    if guarded.outcome is BarrierOutcome.REFUSED:
                        refusal = BarrierRefused(call.gid, call.branch_id, op, guarded.why)
                        raise RpcError(grpc.StatusCode.ABORTED, f"{where}: {refusal}")
                    result = guarded.result
                    if guarded.outcome is BarrierOutcome.DUPLICATE and not compensating:
                        result = await outputs.read(call.gid, call.branch_id)  # the first run's output
                    return ActionReply(result, guarded.outcome)
                except (RpcError, TccArgumentError):
                    raise
                except RetryLater as exc:
                    raise RpcError(grpc.StatusCode.UNAVAILABLE, f"{where}: retry later: {exc}") from exc
                except Exception as exc:
                    if is_infrastructure_failure(exc):  # retried by the coordinator, not compensated
                        raise infrastructure_refusal(where, exc) from exc
                    # an action that raises is the business saying no: the saga compensates (not retried);
                    # a compensation that raises is retried by the coordinator until it succeeds
                    code = grpc.StatusCode.INTERNAL if compensating else grpc.StatusCode.FAILED_PRECONDITION
                    raise RpcError(code, f"{where} failed: {type(exc).__name__}: {exc}") from exc

            # the participant's interceptors see a saga action as op "try" and its compensation as "cancel"
            try:
                reply = await chain(interceptors, run)(ActionCall(gid, step_id, op, service, str(name), kwargs))
            except (RpcError, TccArgumentError):
                raise
            except Exception as exc:  # raised by an interceptor: answered like the step's own failure
                code = grpc.StatusCode.INTERNAL if compensating else grpc.StatusCode.FAILED_PRECONDITION
                raise RpcError(code, f"{where} failed in an interceptor: {type(exc).__name__}: {exc}") from exc
            return {"result": reply.result, "barrier": reply.barrier.value}

        return handle


@overload
def saga_step(fn: Callable[Concatenate[SagaContext, P], Awaitable[R]], /) -> SagaStep[P, R]: ...


@overload
def saga_step(
    *, name: str | None = None
) -> Callable[[Callable[Concatenate[SagaContext, P], Awaitable[R]]], SagaStep[P, R]]: ...


def saga_step(
    fn: Callable[Concatenate[SagaContext, P], Awaitable[R]] | None = None, /, *, name: str | None = None
) -> SagaStep[P, R] | Callable[[Callable[Concatenate[SagaContext, P], Awaitable[R]]], SagaStep[P, R]]:
    """Make ``fn`` a saga action served under ``name`` (default: the function's name); use bare
    (``@saga_step``) or with options (``@saga_step(name="book")``). Attach its compensation with
    ``@<action>.compensation``."""
    if fn is not None:
        return SagaStep(fn, name=name)

    def decorate(f: Callable[Concatenate[SagaContext, P], Awaitable[R]]) -> SagaStep[P, R]:
        return SagaStep(f, name=name)

    return decorate
