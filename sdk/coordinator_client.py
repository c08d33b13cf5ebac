"""The caller's side of global transactions.

    coordinator = CoordinatorClient("127.0.0.1:7070")
    async with coordinator.transaction(timeout=30) as tx:
        await tx.call(debit, account="A", amount=10)
        await tx.call(credit.on("bank-b"), account="B", amount=10)

``tx.call`` validates the arguments, registers the branch (durably, before anything else happens), then
invokes the try on a participant of the action's service. Leaving the block normally commits; an exception
rolls back and propagates. The gid is made here (sortable, unique), so beginning costs no round trip; the
coordinator calls travel over one long-lived stream per client, multiplexed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import textwrap
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import grpc

from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc
from sdk.branch_mac import RECEIPT_FIELD
from sdk.coordinator_stream import CoordinatorStream
from sdk.errors import ActionNotFound, BusinessError, ConfigError, NoEndpoints, RpcError
from sdk.observability.tracing import close_span, open_span, outgoing_traceparent, setup_tracing, tracing_enabled
from sdk.registry import RegistryClient, ServiceClient
from sdk.rpc import ChannelPool, ClientSecurity, txn_context
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.client import translate_error
from sdk.saga.client import NO_OUTPUT, SagaClient, SagaResult
from sdk.tcc import TccAction, TccDefinitionError, as_action
from sdk.tcc_wire import envelope

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


class RollbackOnly(BusinessError):
    """Commit refused: a try failed in this transaction (even if the caller caught the error), or the
    coordinator found a branch without a try receipt, so it was rolled back instead; confirming the other
    branches would apply half a transaction. The message names the branch."""


class TryFailed(RpcError, BusinessError):
    """A branch's try failed in the participant (a business refusal such as insufficient funds)."""

    def __init__(self, service: str, action: str, error: RpcError) -> None:
        super().__init__(error.code, error.details, target=error.target)
        self.service = service
        self.action = action


def new_gid() -> str:
    """Unique and sortable by creation time: 16 hex digits of nanoseconds, 12 random hex digits."""
    return f"{time.time_ns():016x}{os.urandom(6).hex()}"


def _reason(text: str) -> str:
    """A rollback reason for the timeline: whole words, bounded (the coordinator keeps up to 1000 characters)."""
    return textwrap.shorten(text, width=500, placeholder=" ...")


class CoordinatorClient:
    """Talks to a coordinator (``address``) and, for tries, to participants found in the registry
    (``registry``; by default the coordinator's address, since a coordinator hosts the registry)."""

    def __init__(
        self,
        address: str,
        *,
        registry: str | Sequence[str] | None = None,
        timeout: float = 10.0,
        session: bool = True,
        security: ClientSecurity | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        setup_tracing("txc-client")  # only if OTEL_* variables ask for it; before the channels are made
        self.pool = ChannelPool(default_timeout=timeout, security=security)  # None: TXC_TLS_* / TXC_TOKEN
        self.stub = coordinator_pb2_grpc.CoordinatorStub(self.pool.channel(address))
        self.registry = RegistryClient(registry or address, pool=self.pool)
        self._services: dict[str, ServiceClient] = {}
        self._session = CoordinatorStream(self.stub) if session else None
        self._sagas: SagaClient | None = None

    @property
    def session(self) -> CoordinatorStream | None:
        """The session stream (None with ``session=False``); its ``requests`` / ``writes`` count traffic."""
        return self._session

    async def __aenter__(self) -> CoordinatorClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session stream, the service clients and every channel (``async with`` does it)."""
        if self._session is not None:
            await self._session.close()
        for client in self._services.values():
            await client.close()
        await self.registry.close(deregister=False)
        await self.pool.close()

    def transaction(self, timeout: float = 30.0, *, gid: str | None = None) -> GlobalTransaction:
        """A new global transaction (use with ``async with``); ``timeout`` seconds until the coordinator
        rolls it back unless committed."""
        if not timeout > 0:
            raise ConfigError(f"timeout: must be > 0 seconds, got {timeout}")
        return GlobalTransaction(self, gid or new_gid(), timeout)

    # -- coordinator operations ---------------------------------------------------------------------

    async def _op(self, req: pb.SessionRequest, unary: str, message: Any, timeout: float | None) -> pb.TransactionReply:
        """One idempotent coordinator operation, retried on UNAVAILABLE until ``timeout``."""
        loop = asyncio.get_running_loop()
        budget = self.timeout if timeout is None else timeout
        deadline = loop.time() + budget
        delays = backoff_delays(initial=0.05, maximum=1.0)
        while True:
            remaining = max(deadline - loop.time(), 0.01)
            if tracing_enabled():  # the coordinator's span for this op joins the caller's trace
                req.traceparent = outgoing_traceparent()
            try:
                if self._session is not None:
                    return await self._session.request(req, remaining)
                try:
                    reply: pb.TransactionReply = await getattr(self.stub, unary)(message, timeout=remaining)
                    return reply
                except grpc.aio.AioRpcError as exc:
                    raise translate_error(exc, target=self.address) from exc
            except RpcError as exc:
                delay = next(delays)
                if exc.code != grpc.StatusCode.UNAVAILABLE or deadline - loop.time() <= delay:
                    raise
                await asyncio.sleep(delay)

    async def register_branch(
        self, gid: str, branch_id: str, service: str, action: str, payload: Any, *, tx_timeout: float, kind: str = ""
    ) -> str:
        """Durably record a branch; ``kind`` "XA" marks a proxy's XA branch (empty: TCC). Returns the state."""
        state, _mac = await self.register_signed_branch(
            gid, branch_id, service, action, payload, tx_timeout=tx_timeout, kind=kind
        )
        return state

    async def register_signed_branch(
        self, gid: str, branch_id: str, service: str, action: str, payload: Any, *, tx_timeout: float, kind: str = ""
    ) -> tuple[str, str]:
        """Register a branch durably; returns the state and the try's signature to carry in its body
        (``sdk.tcc_wire.envelope(..., mac)``; empty when the coordinator signs nothing)."""
        msg = pb.RegisterBranchRequest(
            gid=gid,
            timeout_seconds=tx_timeout,
            branch_id=branch_id,
            service=service,
            action=action,
            payload_json=json.dumps(payload, separators=(",", ":")).encode(),
            kind=kind,
        )
        reply = await self._op(pb.SessionRequest(register=msg), "RegisterBranch", msg, None)
        return reply.state, reply.branch_mac

    async def begin(self, gid: str, timeout: float = 0) -> str:
        """Begin ``gid`` explicitly (``tx.call`` begins with its first branch, so callers rarely need this)."""
        msg = pb.BeginRequest(gid=gid, timeout_seconds=timeout)
        return (await self._op(pb.SessionRequest(begin=msg), "Begin", msg, None)).state

    async def commit(self, gid: str, *, phase2_delay: float = 0.0, receipts: Mapping[str, str] | None = None) -> str:
        """Decide commit. ``phase2_delay`` > 0: the caller finishes phase 2 itself and reports it with
        ``finish``; the coordinator drives phase 2 only if no report came within that many seconds.
        ``receipts``: branch id -> the receipt its try was answered with (``"receipt"`` in the reply); a
        coordinator with a branch key rolls back a commit with a TCC branch that has none, and this raises
        :class:`RollbackOnly` naming it."""
        msg = pb.CommitRequest(gid=gid, phase2_delay_seconds=phase2_delay, receipts=dict(receipts or {}))
        reply = await self._op(pb.SessionRequest(commit=msg), "Commit", msg, None)
        if reply.state == "ROLLING_BACK":  # the coordinator rolled it back instead
            raise RollbackOnly(f"global transaction {gid} cannot commit: {reply.reason or 'rolled back instead'}")
        return reply.state

    async def finish(self, gid: str) -> str:
        """Report that the caller finished phase 2 of every branch of ``gid`` (see ``commit``)."""
        msg = pb.FinishRequest(gid=gid)
        return (await self._op(pb.SessionRequest(finish=msg), "Finish", msg, None)).state

    async def rollback(self, gid: str, reason: str = "rollback", untried: Sequence[str] = ()) -> str:
        """Decide rollback; ``untried``: branches whose try never reached a participant (nothing to cancel)."""
        msg = pb.RollbackRequest(gid=gid, reason=reason, untried_branch_ids=list(untried))
        return (await self._op(pb.SessionRequest(rollback=msg), "Rollback", msg, None)).state

    async def report_xa(self, outcomes: Sequence[Mapping[str, Any]], *, timeout: float | None = None) -> None:
        """Record a proxy's finished XA transactions, many in one message (fields of ``XaOutcome`` in
        coordinator.proto; ``branches`` as ``{"backend", "gtrid", "bqual"}`` mappings). Sent on the session
        stream only: not retried here (the proxy keeps what failed and sends it again, or elsewhere)."""
        if self._session is None:
            raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "report_xa needs the session stream")
        report = pb.XaReportRequest(
            outcomes=[
                pb.XaOutcome(
                    **{k: v for k, v in o.items() if k != "branches"},
                    branches=[pb.XaBranchReport(**b) for b in o.get("branches", ())],
                )
                for o in outcomes
            ]
        )
        await self._session.request(pb.SessionRequest(xa_report=report), self.timeout if timeout is None else timeout)

    async def _unary(self, method: str, message: Any) -> Any:
        try:
            return await getattr(self.stub, method)(message, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise translate_error(exc, target=self.address) from exc

    async def query(self, gid: str) -> pb.TransactionDetail:
        """One transaction as the coordinator records it: state, branches, attempts, timeline (``txc tx show``)."""
        return await self._unary("Query", pb.QueryRequest(gid=gid))

    async def list(self, state: str = "", limit: int = 100, **filters: Any) -> pb.ListReply:
        """Transactions newest first; ``filters``: the other fields of ``ListRequest`` (mode, service,
        gid_prefix, older_than_seconds, after_gid, skip_counts)."""
        return await self._unary("List", pb.ListRequest(state=state, limit=limit, **filters))

    async def activity(self, minutes: int = 15) -> Sequence[pb.ActivityMinute]:
        """Outcomes per minute of the transactions begun in the last ``minutes``, oldest first."""
        return list((await self._unary("Activity", pb.ActivityRequest(minutes=minutes))).minutes)

    async def retry(self, gid: str, actor: str = "") -> str:
        """Admin: run phase 2 now, or put a transaction marked for a person back into phase 2. ``actor``: who
        asks, as the timeline records it (empty: the command's name)."""
        return str((await self._unary("Retry", pb.QueryRequest(gid=gid, actor=actor))).state)

    async def abort(self, gid: str, actor: str = "") -> str:
        """Admin: roll back a transaction still in BEGIN. ``actor``: who asks, as the timeline records it."""
        return str((await self._unary("Abort", pb.QueryRequest(gid=gid, actor=actor))).state)

    async def resolve(self, gid: str, branch_id: str, outcome: str, actor: str = "") -> str:
        """Admin: record that a person confirmed or cancelled a branch by hand (``outcome``)."""
        request = pb.ResolveRequest(gid=gid, branch_id=branch_id, outcome=outcome, actor=actor)
        return str((await self._unary("Resolve", request)).state)

    # -- sagas (see sdk.saga.client) ---------------------------------------------------------------

    @property
    def sagas(self) -> SagaClient:
        """The saga calls on this client's channel (``start_saga`` and the others use it)."""
        if self._sagas is None:
            self._sagas = SagaClient(self.pool, self.address, self.timeout)
        return self._sagas

    async def register_saga(self, source: str, file: str = "") -> tuple[str, int, bool]:
        """Store a saga definition (YAML text): (name, version, created)."""
        reply = await self.sagas.register(source, file)
        return reply.name, reply.version, reply.created

    async def start_saga(
        self,
        name: str,
        input: Any = None,
        *,
        wait: bool = False,
        wait_timeout: float = 0.0,
        idempotency_key: str = "",
        version: int = 0,
    ) -> SagaResult:
        """Start saga ``name`` (its newest version unless ``version``); the coordinator runs it to the end
        even if this process exits. With ``wait``, returns once it ended: state and each step's output."""
        return await self.sagas.start(
            name, input, wait=wait, wait_timeout=wait_timeout, idempotency_key=idempotency_key, version=version
        )

    async def saga(self, gid: str) -> SagaResult:
        """One saga instance: its state, each step's state and output, and its timeline (``detail.events``)."""
        return await self.sagas.query(gid)

    async def retry_saga(self, gid: str, by: str = "") -> SagaResult:
        """Admin: compensate again a saga marked for a person (its service is back); ``by``: who, for the
        timeline."""
        return await self.sagas.retry(gid, by)

    async def resolve_saga(self, gid: str, step_id: str, by: str = "", *, output: Any = NO_OUTPUT) -> SagaResult:
        """Admin: a person did ``step_id`` by hand — compensated it, or (a saga FORWARD_FAILED) completed it with
        ``output`` as its result; the coordinator then drives what is left."""
        return await self.sagas.resolve(gid, step_id, by, output=output)

    # -- participants -------------------------------------------------------------------------------

    async def invoke(self, service: str, action: str, payload: Any, *, timeout: float | None = None) -> Any:
        """Call a participant's action by service name (round robin over its registered endpoints)."""
        client = self._services.get(service)
        if client is None:
            client = self._services[service] = ServiceClient(self.registry, service)
        return await client.invoke(action, payload, timeout=timeout)


class GlobalTransaction:
    """One global transaction; see :meth:`CoordinatorClient.transaction`."""

    def __init__(self, client: CoordinatorClient, gid: str, timeout: float) -> None:
        self.client = client
        self.gid = gid
        self.timeout = timeout
        self.state = "BEGIN"
        self.branches: list[tuple[str, str, str]] = []  # (branch id, service, action)
        # branch id -> its try's receipt (sdk.branch_mac), sent with the commit as the tries' proof
        self.receipts: dict[str, str] = {}
        self._deadline = time.monotonic() + timeout
        self._untried: list[str] = []  # branches whose try never ran: no such action at the participant
        self._span: contextlib.ExitStack | None = None
        self._failed: str | None = (
            None  # the first branch whose try did not succeed: the transaction can only roll back
        )

    async def call(self, action: TccAction[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Register a branch for ``action`` and run its try with these arguments; return the try's result.

        Typed by the try: mypy checks the arguments against the try's parameters and the result has the
        try's return type (the JSON reply is validated back into it)."""
        act = as_action(action)
        if not act.service:
            raise TccDefinitionError(
                f"tcc action {act.name!r} has no service: declare it with @tcc(service=...) or call {act.name}.on(...)"
            )
        if self.state != "BEGIN":
            raise TccDefinitionError(f"transaction {self.gid} is {self.state}: no more branches can join it")
        arguments = act.bind_args(args, kwargs)
        branch_id = str(len(self.branches) + 1)
        self.branches.append((branch_id, act.service, act.name))
        _state, mac = await self.client.register_signed_branch(
            self.gid, branch_id, act.service, act.name, arguments, tx_timeout=self.timeout
        )
        # the try's own deadline: a participant that is down fails this call, not the whole transaction's time
        remaining = max(min(self._deadline - time.monotonic(), self.client.timeout), 0.1)
        try:
            with txn_context(self.gid):
                reply = await self.client.invoke(
                    act.service, act.name, envelope(self.gid, branch_id, arguments, mac), timeout=remaining
                )
        except BaseException as exc:
            self._failed = self._failed or f"branch {branch_id} ({act.service}.{act.name}): {exc}"
            if isinstance(exc, ActionNotFound | NoEndpoints):  # no participant ever saw this try
                self._untried.append(branch_id)
            elif isinstance(exc, RpcError) and exc.code in (
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.ABORTED,
            ):
                raise TryFailed(act.service, act.name, exc) from exc
            raise
        if isinstance(reply, dict) and isinstance(reply.get(RECEIPT_FIELD), str):
            self.receipts[branch_id] = reply[RECEIPT_FIELD]
        return act.parse_result(reply.get("result") if isinstance(reply, dict) else reply)  # type: ignore[no-any-return]

    async def commit(self) -> str:
        """Commit: returns once the decision is durable (confirms run after, driven by the coordinator)."""
        if self._failed is not None:
            await self.rollback(_reason(f"try failed: {self._failed}"))
            raise RollbackOnly(
                f"global transaction {self.gid} cannot commit: the try of {self._failed}; it was rolled back"
            )
        if not self.branches:
            self.state = "COMMITTED"
            return self.state
        try:
            self.state = await self.client.commit(self.gid, receipts=self.receipts)
        except RollbackOnly:
            self.state = "ROLLING_BACK"
            raise
        return self.state

    async def rollback(self, reason: str = "rollback") -> str:
        """Roll back now (leaving the ``async with`` block with an exception does it); the state after."""
        if not self.branches:
            self.state = "ROLLED_BACK"
            return self.state
        try:
            self.state = await self.client.rollback(self.gid, reason, self._untried)
        except RpcError as exc:
            # the coordinator refused the first branch's registration, so the transaction was never begun:
            # there is nothing to roll back (and no timeout that will)
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            self.state = "ROLLED_BACK"
        return self.state

    async def __aenter__(self) -> GlobalTransaction:
        self._span = open_span("txc.transaction", {"txc.gid": self.gid})  # the trace's root (None: tracing off)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        try:
            await self._end(exc_type, exc)
        finally:
            close_span(self._span)

    async def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        if exc is None:
            await self.commit()
            return
        reason = _reason(f"{exc_type.__name__ if exc_type else 'error'}: {exc}")
        try:
            await self.rollback(reason)
        except Exception as rollback_error:  # the coordinator's timeout will roll it back anyway
            log.warning("rollback of %s failed (%s); its timeout will roll it back", self.gid, rollback_error)
