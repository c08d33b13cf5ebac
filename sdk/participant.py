"""Serve TCC actions: a participant process registers its service and answers try / confirm / cancel.

    participant = Participant("bank-a", [debit, credit], barrier=PgBarrier(pool))
    await participant.serve("127.0.0.1:0", registry="127.0.0.1:7070")

Each phase answers ``{"result": ..., "barrier": outcome}``; with a branch key, a try that applied (or a repeat
of one) also carries ``"receipt"``, the proof its caller passes on with the commit (``sdk.branch_mac``). A try
that raises becomes FAILED_PRECONDITION (the caller's transaction rolls back); a try refused by the barrier (its
branch was already cancelled) becomes ABORTED; invalid arguments become INVALID_ARGUMENT. Confirm and cancel
errors are retried by the
coordinator until they succeed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from sdk.barrier import Barrier, BarrierOutcome, BarrierRefused, MySqlBarrier, PgBarrier
from sdk.branch_mac import RECEIPT_FIELD, BranchSigner, BranchVerifier, warn_unverified
from sdk.errors import RpcError
from sdk.infrastructure import infrastructure_refusal, is_infrastructure_failure
from sdk.interceptors import ActionCall, ActionReply, Interceptor, chain
from sdk.observability.participant_metrics import observe_participant
from sdk.registry.model import ACTIONS_KEY
from sdk.rpc import JsonHandler
from sdk.saga.outputs import OutputStore, outputs_for
from sdk.saga.step import SagaStep
from sdk.service_server import ServiceServer
from sdk.tcc import TccAction, TccArgumentError, TccContext, TccDefinitionError, parse_envelope
from sdk.tcc_wire import OPS, PHASE2_BATCH_ACTION, Op, action_name

if TYPE_CHECKING:
    from sdk.http.asgi import ParticipantApp

log = logging.getLogger(__name__)
# a try answered with these applied (now, or the first time it came): its reply carries a receipt
TRIED = (BarrierOutcome.APPLIED, BarrierOutcome.DUPLICATE)


class Participant:
    """A participant process's service: its TCC actions and saga steps, served over gRPC behind the barrier.

    ``Participant("bank", [debit, credit, hold], barrier=PgBarrier(pool)).serve(listen, registry)`` checks the
    barrier's tables, registers ``bank`` in the registry with the names it serves, answers until SIGTERM, then
    deregisters and drains. A try or saga action that raises is a business refusal; one that fails on its
    infrastructure (database down, table missing) is answered UNAVAILABLE instead (``sdk.infrastructure``)."""

    def __init__(
        self,
        service: str,
        actions: Iterable[TccAction[Any, Any] | SagaStep[Any, Any]],
        *,
        barrier: Barrier | None = None,
        signer: BranchSigner | None = None,
        interceptors: Sequence[Interceptor] = (),
    ):
        """``interceptors`` wrap every phase call, first one outermost (see :mod:`sdk.interceptors`)."""
        self.service = service
        self.barrier = barrier
        # a try's result is kept next to its barrier row (as saga steps keep their outputs), so a retried try
        # whose first attempt applied gets that result back instead of nothing
        self.outputs: OutputStore | None = (
            outputs_for(barrier) if isinstance(barrier, PgBarrier | MySqlBarrier) else None
        )
        self.interceptors = list(interceptors)
        # Branch signatures (sdk.branch_mac): the given key, else TXC_BRANCH_KEY, else calls are not verified.
        self.signer = signer if signer is not None else BranchSigner.from_env()
        self.actions: dict[str, TccAction[Any, Any]] = {}
        self.saga_steps: list[SagaStep[Any, Any]] = []
        for action in actions:
            if isinstance(action, SagaStep):  # saga actions and compensations (see sdk.saga.step)
                self.saga_steps.append(action)
                continue
            if not isinstance(action, TccAction):
                raise TccDefinitionError(f"{action!r} is not a TCC action: decorate it with @tcc")
            action.check_complete()
            if action.name in self.actions:
                raise TccDefinitionError(f"{service}: two actions are named {action.name!r}")
            self.actions[action.name] = action.on(service)

    def handlers(self) -> dict[str, JsonHandler]:
        """The generic JSON actions to serve: ``name``, ``name.confirm``, ``name.cancel`` per TCC action,
        and ``txc.phase2`` (confirms and cancels of many branches in one call)."""
        handlers = {
            action_name(name, op): self._handler(action, op) for name, action in self.actions.items() for op in OPS
        }
        for step in self.saga_steps:
            for name, handler in step.handlers(self.service, self.barrier, self.interceptors).items():
                if name in handlers or name == PHASE2_BATCH_ACTION:
                    raise TccDefinitionError(f"{self.service}: two actions are named {name!r}")
                handlers[name] = handler
        handlers = self._verified(handlers)
        handlers[PHASE2_BATCH_ACTION] = self.batch_handler(handlers)  # its items go through the checks too
        return handlers

    def _verified(self, handlers: dict[str, JsonHandler]) -> dict[str, JsonHandler]:
        """Each handler behind the branch-signature check: a call the coordinator did not register is refused
        before the barrier or any user code runs (sdk.branch_mac)."""
        if self.signer is None:
            warn_unverified(self.service)
            return handlers
        verifier = BranchVerifier(self.service, self.signer)

        def guard(name: str, handler: JsonHandler) -> JsonHandler:
            async def verified(body: Any, context: grpc.aio.ServicerContext) -> Any:
                refusal = verifier.check(name, body)
                if refusal is not None:
                    raise RpcError(grpc.StatusCode.PERMISSION_DENIED, refusal)
                return await handler(body, context)

            return verified

        return {name: guard(name, handler) for name, handler in handlers.items()}

    def batch_handler(self, handlers: Mapping[str, JsonHandler]) -> JsonHandler:
        """The ``txc.phase2`` handler running each item through ``handlers`` (rebuild it after wrapping them)."""

        async def one(item: Any, context: grpc.aio.ServicerContext) -> dict[str, Any]:
            try:
                if not isinstance(item, Mapping) or item.get("op") not in ("confirm", "cancel"):
                    raise TccArgumentError(f"{self.service}.{PHASE2_BATCH_ACTION}: each item needs op confirm/cancel")
                handler = handlers.get(action_name(str(item.get("action")), str(item["op"])))
                if handler is None:
                    return {
                        "ok": False,
                        "code": "UNIMPLEMENTED",
                        "error": f"{self.service} has no {item.get('action')!r}",
                    }
                reply = await handler(item, context)
                return {"ok": True, "barrier": reply["barrier"]}
            except RpcError as exc:
                return {"ok": False, "code": exc.code.name, "error": exc.details}
            except Exception as exc:
                return {"ok": False, "code": "INVALID_ARGUMENT", "error": str(exc)}

        async def batch(body: Any, context: grpc.aio.ServicerContext) -> Any:
            items = body.get("items") if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise TccArgumentError(f"{self.service}.{PHASE2_BATCH_ACTION}: body must be {{'items': [...]}}")
            return {"results": list(await asyncio.gather(*(one(item, context) for item in items)))}

        return batch

    def _handler(self, action: TccAction[Any, Any], op: Op) -> JsonHandler:
        signature = action.phase(op)
        where = action.where(op)

        async def run(call: ActionCall) -> ActionReply:
            ctx: TccContext[Any] = TccContext(call.gid, call.branch_id, op, self.service, action.name)

            keeps = self.outputs if op == "try" else None

            async def work(conn: Any) -> Any:
                ctx.conn = conn
                result = await signature.fn(ctx, **call.arguments)
                kept = signature.json_result(where, result) if keeps is not None else None
                if keeps is not None and kept is not None:  # in the try's local transaction: kept iff it applied
                    await keeps.write(conn, call.gid, call.branch_id, kept)
                return result

            try:
                if self.barrier is None:
                    return ActionReply(await work(None), BarrierOutcome.APPLIED)
                if keeps is not None:
                    await keeps.install()
                guarded = await self.barrier.run(call.gid, call.branch_id, op, work)
                if guarded.outcome is BarrierOutcome.REFUSED:
                    refusal = BarrierRefused(call.gid, call.branch_id, op, guarded.why)
                    raise RpcError(grpc.StatusCode.ABORTED, f"{where}: {refusal}")
                if guarded.outcome is BarrierOutcome.DUPLICATE and keeps is not None:
                    first = await keeps.read(call.gid, call.branch_id)
                    return ActionReply(first, guarded.outcome)
                return ActionReply(guarded.result, guarded.outcome)
            except (RpcError, TccArgumentError):
                raise
            except Exception as exc:
                if is_infrastructure_failure(exc):  # not the business saying no (sdk.infrastructure)
                    raise infrastructure_refusal(where, exc) from exc
                code = grpc.StatusCode.FAILED_PRECONDITION if op == "try" else grpc.StatusCode.INTERNAL
                if op != "try":
                    log.warning("%s failed for %s/%s: %s", where, call.gid, call.branch_id, exc)
                raise RpcError(code, f"{where} failed: {type(exc).__name__}: {exc}") from exc

        proceed = chain(self.interceptors, run)

        async def handle(body: Any, _context: grpc.aio.ServicerContext) -> Any:
            gid, branch_id, raw_args = parse_envelope(where, body)
            try:
                kwargs = signature.python_args(where, raw_args)
            except TccArgumentError as exc:
                if op == "try" or self.barrier is None:
                    raise
                return await self._undecodable(gid, branch_id, op, where, exc)
            try:
                reply = await proceed(ActionCall(gid, branch_id, op, self.service, action.name, kwargs))
            except (RpcError, TccArgumentError):
                raise
            except Exception as exc:  # raised by an interceptor (a fault it injects): answered like the phase's own
                code = grpc.StatusCode.FAILED_PRECONDITION if op == "try" else grpc.StatusCode.INTERNAL
                raise RpcError(code, f"{where} failed in an interceptor: {type(exc).__name__}: {exc}") from exc
            returns = reply.barrier is BarrierOutcome.APPLIED or (op == "try" and reply.result is not None)
            value = signature.json_result(where, reply.result) if returns else None
            answer: dict[str, Any] = {"result": value, "barrier": reply.barrier.value}
            if op == "try" and self.signer is not None and reply.barrier in TRIED:
                # the caller's proof, passed on with its commit, that this try applied (sdk.branch_mac)
                answer[RECEIPT_FIELD] = self.signer.receipt(gid, branch_id)
            return answer

        return handle

    async def _undecodable(self, gid: str, branch_id: str, op: Op, where: str, error: TccArgumentError) -> Any:
        """A confirm or cancel whose arguments do not decode: the barrier decides first. A cancel of a try that
        never applied has nothing to undo and succeeds whatever its arguments; only work that must really run
        on them fails, as INVALID_ARGUMENT."""
        assert self.barrier is not None

        async def work(_conn: Any) -> Any:
            raise error

        guarded = await self.barrier.run(gid, branch_id, op, work)
        if guarded.outcome is BarrierOutcome.REFUSED:
            raise RpcError(grpc.StatusCode.ABORTED, f"{where}: {BarrierRefused(gid, branch_id, op, guarded.why)}")
        return {"result": None, "barrier": guarded.outcome.value}

    def host(self, listen: str, registry: str | Sequence[str], *, ttl: float = 10.0) -> ServiceServer:
        """A ``ServiceServer`` serving this participant (call ``start``/``stop`` or ``run`` on it)."""
        handlers = self.handlers()
        # the names served travel with the registration, so a saga's actions can be checked before it runs
        served = {ACTIONS_KEY: ",".join(sorted(handlers))}
        host = ServiceServer(listen, registry, ttl=ttl, name=self.service, metadata=served)
        host.add_json_service(self.service, handlers)
        host.checks.append(self.check)
        return host

    async def check(self) -> None:
        """What must hold before this participant registers (its ``ServiceServer`` runs it at start): the
        barrier's tables exist. Raises a ``UsageError`` naming the fix."""
        if self.barrier is not None:
            await self.barrier.check()

    async def serve(
        self, listen: str, registry: str | Sequence[str], *, ttl: float = 10.0, metrics_listen: str | None = None
    ) -> None:
        """Serve until SIGTERM/SIGINT: register, answer phases, deregister and drain on the way out.
        ``metrics_listen`` (HOST:PORT): export Prometheus metrics there (see sdk.observability)."""
        observe_participant(self, metrics_listen)  # metrics, traces and log context, each only when asked for
        await self.host(listen, registry, ttl=ttl).run()

    def asgi(
        self, *, registry: str | Sequence[str] | None = None, base_url: str | None = None, ttl: float = 10.0
    ) -> ParticipantApp:
        """This participant as an ASGI app (HTTP/JSON, see ``sdk.http``), to mount in a Starlette or FastAPI
        app or to run under any ASGI server; registered as ``http`` at ``base_url``."""
        from sdk.http.asgi import ParticipantApp  # starlette is imported only by HTTP participants

        return ParticipantApp(self, registry=registry, base_url=base_url, ttl=ttl)

    async def serve_http(
        self, listen: str, registry: str | Sequence[str], *, ttl: float = 10.0, advertise: str | None = None
    ) -> None:
        """As :meth:`serve`, over HTTP/JSON (uvicorn) instead of gRPC."""
        from sdk.http.serve import serve_http

        await serve_http(self.service, self.handlers(), listen, registry, ttl=ttl, advertise=advertise)
