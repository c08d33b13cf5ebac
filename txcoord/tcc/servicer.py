"""The Coordinator gRPC service (TCC, and the log of every mode): protobuf in and out, failures answered as every
coordinator service answers them (``txcoord.engine.answers``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import grpc

from sdk._proto import coordinator_pb2 as pb
from sdk._proto import coordinator_pb2_grpc
from sdk.rpc.authorization import current_identity
from sdk.rpc.identities import Role
from txcoord import tracing, validation
from txcoord.engine.answers import answer, failure
from txcoord.engine.signing import BranchSigning
from txcoord.errors import NotPermitted
from txcoord.model import Actor, Event, ListFilter, TxState
from txcoord.store.outage import STORE_OUTAGE
from txcoord.tcc.coordinator import Coordinator
from txcoord.tcc.model import Branch, Transaction
from txcoord.xa_reports import XaReports

T = TypeVar("T")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Coordinator"].full_name


def current_actor() -> Actor | None:
    """Who the authorization interceptor found calling (None: security off, nothing to check)."""
    identity = current_identity.get()
    return None if identity is None else Actor(identity.name, identity.admin)


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def transaction_info(tx: Transaction) -> pb.TransactionInfo:
    return pb.TransactionInfo(
        gid=tx.gid,
        state=tx.state.value,
        timeout_seconds=tx.timeout_s,
        deadline=_ts(tx.deadline),
        reason=tx.reason or "",
        owner=tx.owner or "",
        lease_until=_ts(tx.lease_until),
        attempts=tx.attempts,
        next_attempt_at=_ts(tx.next_attempt_at),
        created_at=_ts(tx.created_at),
        decided_at=_ts(tx.decided_at),
        finished_at=_ts(tx.finished_at),
        branch_count=tx.branch_count or len(tx.branches),
        mode=tx.kind,
        trace_id=tx.trace_id or "",
    )


def branch_info(branch: Branch) -> pb.BranchInfo:
    return pb.BranchInfo(
        branch_id=branch.branch_id,
        service=branch.service,
        action=branch.action,
        payload_json=json.dumps(branch.payload).encode(),
        state=branch.state.value,
        attempts=branch.attempts,
        last_error=branch.last_error or "",
        last_attempt_at=_ts(branch.last_attempt_at),
        next_attempt_at=_ts(branch.next_attempt_at),
        created_at=_ts(branch.created_at),
        finished_at=_ts(branch.finished_at),
        kind=branch.kind,
    )


def event_info(event: Event) -> pb.EventInfo:
    return pb.EventInfo(branch_id=event.branch_id or "", at=_ts(event.at), event=event.event, detail=event.detail or "")


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServicer):
    def __init__(
        self, coordinator: Coordinator, signing: BranchSigning | None = None, xa_reports: XaReports | None = None
    ) -> None:
        self.coordinator = coordinator
        self.xa_reports = xa_reports  # a proxy's batched reports of finished XA transactions
        self.signing = signing or BranchSigning(None)  # signs each registered branch's try
        self.outage = STORE_OUTAGE

    async def _call(self, context: grpc.aio.ServicerContext, work: Awaitable[T]) -> T:
        return await answer(context, work, outage=self.outage)

    # -- the operations, shared by unary calls and the session stream ---------------------------------

    async def _begin(self, req: pb.BeginRequest) -> pb.TransactionReply:
        state = await self.coordinator.begin(req.gid, req.timeout_seconds, current_actor())
        return pb.TransactionReply(gid=req.gid, state=state.value)

    async def _register(self, req: pb.RegisterBranchRequest) -> pb.TransactionReply:
        identity = current_identity.get()
        if identity is not None and not identity.may_enlist(req.service):
            raise NotPermitted(f"service: identity {identity.name!r} may not enlist {validation.shown(req.service)}")
        payload = validation.payload(req.payload_json)  # before decoding or signing anything
        state, stored = await self.coordinator.register_branch(
            req.gid,
            req.branch_id,
            req.service,
            req.action,
            payload,
            req.timeout_seconds,
            req.kind,
            current_actor(),
        )
        # the signature covers exactly what the store holds, so a retry gets the first registration's
        mac = (
            self.signing.mac(req.gid, req.branch_id, req.service, req.action, json.loads(stored))
            if self.signing.on
            else ""
        )
        return pb.TransactionReply(gid=req.gid, state=state.value, branch_mac=mac)

    async def _commit(self, req: pb.CommitRequest) -> pb.TransactionReply:
        # signing on: which branches' tries the caller proved applied; the decision checks the rest
        receipted = self.signing.receipted(req.gid, validation.receipts(req.receipts))
        state, reason = await self.coordinator.commit(req.gid, req.phase2_delay_seconds, current_actor(), receipted)
        return pb.TransactionReply(gid=req.gid, state=state.value, reason=reason)

    async def _finish(self, req: pb.FinishRequest) -> pb.TransactionReply:
        identity = current_identity.get()
        if identity is not None and not identity.has_any(frozenset({Role.PROXY})):  # also on the session stream
            raise NotPermitted(f"finish: identity {identity.name!r} is not a proxy; only a proxy reports phase 2 done")
        return pb.TransactionReply(gid=req.gid, state=(await self.coordinator.finish(req.gid, current_actor())).value)

    async def _rollback(self, req: pb.RollbackRequest) -> pb.TransactionReply:
        state = await self.coordinator.rollback(
            req.gid, req.reason or "rollback", list(req.untried_branch_ids), current_actor()
        )
        return pb.TransactionReply(gid=req.gid, state=state.value)

    async def _xa_report(self, req: pb.XaReportRequest) -> pb.TransactionReply:
        assert self.xa_reports is not None
        identity = current_identity.get()
        if identity is not None:  # a proxy reports only the transactions of the service it registers
            if not identity.has_any(frozenset({Role.PROXY})):
                raise NotPermitted(f"xa_report: identity {identity.name!r} is not a proxy")
            foreign = sorted({o.service for o in req.outcomes if not identity.may_register(o.service)})
            if foreign:
                raise NotPermitted(f"xa_report: identity {identity.name!r} may not report for service {foreign[0]!r}")
        await self.xa_reports.record(req)
        return pb.TransactionReply(state="RECORDED")

    # -- unary --------------------------------------------------------------------------------------------

    async def Begin(self, request: pb.BeginRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        return await self._call(context, self._begin(request))

    async def RegisterBranch(
        self, request: pb.RegisterBranchRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransactionReply:
        return await self._call(context, self._register(request))

    async def Commit(self, request: pb.CommitRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        return await self._call(context, self._commit(request))

    async def Rollback(self, request: pb.RollbackRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        return await self._call(context, self._rollback(request))

    async def Query(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.TransactionDetail:
        tx, events = await self._call(context, self.coordinator.query(request.gid))
        return pb.TransactionDetail(
            transaction=transaction_info(tx),
            branches=[branch_info(b) for b in tx.branches],
            events=[event_info(e) for e in events],
        )

    async def List(self, request: pb.ListRequest, context: grpc.aio.ServicerContext) -> pb.ListReply:
        filters = ListFilter(
            state=request.state or None,
            mode=request.mode or None,
            service=request.service or None,
            gid_prefix=request.gid_prefix or None,
            older_than_s=request.older_than_seconds or None,
            after_gid=request.after_gid or None,
        )
        work = self.coordinator.list(filters, request.limit or 100, with_counts=not request.skip_counts)
        txs, counts = await self._call(context, work)
        by_state: dict[str, int] = {}
        by_mode: dict[str, int] = {}
        for (state, mode), n in counts.items():
            by_state[state] = by_state.get(state, 0) + n
            by_mode[mode] = by_mode.get(mode, 0) + n
        return pb.ListReply(transactions=[transaction_info(t) for t in txs], counts=by_state, counts_by_mode=by_mode)

    async def Activity(self, request: pb.ActivityRequest, context: grpc.aio.ServicerContext) -> pb.ActivityReply:
        rows = await self._call(context, self.coordinator.activity(request.minutes or 15))
        return pb.ActivityReply(
            minutes=[
                pb.ActivityMinute(minute=_ts(minute), committed=ok, rolled_back=back, other=other)
                for minute, ok, back, other in rows
            ]
        )

    async def Retry(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        state: TxState = await self._call(context, self.coordinator.retry(request.gid, request.actor))
        return pb.TransactionReply(gid=request.gid, state=state.value)

    async def Finish(self, request: pb.FinishRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        return await self._call(context, self._finish(request))

    async def Abort(self, request: pb.QueryRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        state: TxState = await self._call(context, self.coordinator.abort(request.gid, request.actor))
        return pb.TransactionReply(gid=request.gid, state=state.value)

    async def Resolve(self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext) -> pb.TransactionReply:
        work = self.coordinator.resolve(request.gid, request.branch_id, request.outcome, request.actor)
        state: TxState = await self._call(context, work)
        return pb.TransactionReply(gid=request.gid, state=state.value)

    # -- the session stream ----------------------------------------------------------------------------------

    def _session_op(self, req: pb.SessionRequest) -> Callable[[], Awaitable[pb.TransactionReply]] | None:
        kind = req.WhichOneof("op")
        if kind == "register":
            return lambda: self._register(req.register)
        if kind == "commit":
            return lambda: self._commit(req.commit)
        if kind == "rollback":
            return lambda: self._rollback(req.rollback)
        if kind == "begin":
            return lambda: self._begin(req.begin)
        if kind == "finish":
            return lambda: self._finish(req.finish)
        if kind == "xa_report" and self.xa_reports is not None:
            return lambda: self._xa_report(req.xa_report)
        return None

    async def _session_one(self, req: pb.SessionRequest, replies: asyncio.Queue[pb.SessionReply | None]) -> None:
        op = self._session_op(req)
        if op is None:
            replies.put_nowait(
                pb.SessionReply(id=req.id, code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message="op: missing")
            )
            return
        try:
            reply = await tracing.session_op(req, op)  # in a span of the caller's trace when tracing is on
            self.outage.ok()
            replies.put_nowait(pb.SessionReply(id=req.id, reply=reply))
        except Exception as exc:
            code, message = failure(exc, self.outage)
            replies.put_nowait(pb.SessionReply(id=req.id, code=code.value[0], message=message[:1000]))

    async def Session(
        self, request_iterator: AsyncIterator[pb.SessionRequests], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SessionReplies]:
        replies: asyncio.Queue[pb.SessionReply | None] = asyncio.Queue()
        inflight: set[asyncio.Task[None]] = set()

        async def pump() -> None:
            try:
                async for batch in request_iterator:
                    for req in batch.requests:
                        task = asyncio.create_task(self._session_one(req, replies))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                if inflight:
                    await asyncio.gather(*inflight, return_exceptions=True)
            finally:
                replies.put_nowait(None)

        reader = asyncio.create_task(pump())
        try:
            while (reply := await replies.get()) is not None:
                ready = [reply]  # with every other reply ready by now: one stream write for all of them
                finished = False
                while not replies.empty():
                    more = replies.get_nowait()
                    if more is None:
                        finished = True
                        break
                    ready.append(more)
                yield pb.SessionReplies(replies=ready)
                if finished:
                    break
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
