"""The Sagas gRPC service: protobuf in and out, failures answered as every coordinator service answers them
(``txcoord.engine.answers``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import grpc

from sdk._proto import saga_pb2 as pb
from sdk._proto import saga_pb2_grpc
from sdk.saga import SagaDefinition, mermaid
from txcoord import validation
from txcoord.engine.answers import answer
from txcoord.errors import InvalidArgument
from txcoord.model import Event
from txcoord.saga.attention import NO_OUTPUT, SagaAttention
from txcoord.saga.records import SagaInstance
from txcoord.saga.service import SagaService

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Sagas"].full_name
WAIT_MARGIN = 30.0


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def saga_detail(instance: SagaInstance, saga: SagaDefinition, events: list[Event]) -> pb.SagaDetail:
    steps = []
    for step in saga.steps:
        r = instance.steps[step.id]
        steps.append(
            pb.StepInfo(
                step_id=step.id,
                action=str(step.action),
                compensate=str(step.compensate or ""),
                after=list(step.after),
                state=r.state.value,
                attempts=r.attempts,
                compensation_attempts=r.comp_attempts,
                last_error=r.last_error or "",
                input_json=_json(r.input) if r.input is not None else b"",
                output_json=_json(r.output) if r.output is not None else b"",
                started_at=_ts(r.started_at),
                ended_at=_ts(r.ended_at),
                compensated_at=_ts(r.compensated_at),
                next_attempt_at=_ts(r.next_attempt_at),
                completion_order=r.completion_seq or 0,
            )
        )
    return pb.SagaDetail(
        gid=instance.gid,
        name=instance.name,
        version=instance.version,
        state=instance.state,
        reason=instance.reason or "",
        error=instance.error or "",
        input_json=_json(instance.input),
        owner=instance.owner or "",
        created_at=_ts(instance.created_at),
        finished_at=_ts(instance.finished_at),
        deadline=_ts(instance.deadline),
        steps=steps,
        events=[
            pb.SagaEvent(step_id=e.branch_id or "", at=_ts(e.at), event=e.event, detail=e.detail or "") for e in events
        ],
        mermaid=mermaid(saga, {s: r.state.value for s, r in instance.steps.items()}),
    )


class SagaServicer(saga_pb2_grpc.SagasServicer):
    def __init__(self, service: SagaService, attention: SagaAttention) -> None:
        self.service = service
        self.attention = attention

    async def _call(self, context: grpc.aio.ServicerContext, work: Awaitable[T]) -> T:
        return await answer(context, work)

    async def RegisterSaga(
        self, request: pb.RegisterSagaRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSagaReply:
        saga, created = await self._call(context, self.service.register(request.source, request.file))
        return pb.RegisterSagaReply(name=saga.name, version=saga.version, created=created)

    async def StartSaga(self, request: pb.StartSagaRequest, context: grpc.aio.ServicerContext) -> pb.SagaDetail:
        async def start() -> pb.SagaDetail:
            # the edge checks shared with TCC (txcoord.validation): text a store and gRPC metadata can carry
            validation.text(request.name, "name")
            if request.gid:
                validation.gid(request.gid)  # it travels as gRPC metadata to every step
            validation.text(request.idempotency_key, "idempotency_key", limit=200)
            gid, created, saga = await self.service.start(
                request.name,
                request.version,
                validation.json_text(request.input_json, "input_json"),
                request.idempotency_key,
                request.gid,
            )
            ended = None
            if request.wait:
                ended = await self.service.wait(gid, request.wait_seconds or saga.timeout + WAIT_MARGIN)
            if ended is not None and (ended.name, ended.version) == (saga.name, saga.version):  # as the log holds it
                detail = saga_detail(ended, saga, [])
            else:
                detail = saga_detail(*await self.service.query(gid, events=False))  # `txc saga show` has them
            detail.created = created
            return detail

        return await self._call(context, start())

    async def ListSagaDefinitions(
        self, request: pb.ListSagaDefinitionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSagaDefinitionsReply:
        async def definitions() -> pb.ListSagaDefinitionsReply:
            validation.text(request.name, "name")
            if not 0 <= request.limit <= 10_000:
                raise InvalidArgument(f"limit: must be in 0..10000, got {request.limit}")
            rows = await self.service.store.definitions(request.name or None, request.limit or 200)
            return pb.ListSagaDefinitionsReply(
                definitions=[
                    pb.SagaDefinitionInfo(
                        name=r["name"], version=r["version"], source=r["source"], registered_at=_ts(r["registered_at"])
                    )
                    for r in rows
                ]
            )

        return await self._call(context, definitions())

    async def QuerySaga(self, request: pb.QuerySagaRequest, context: grpc.aio.ServicerContext) -> pb.SagaDetail:
        async def query() -> pb.SagaDetail:
            return saga_detail(*await self.service.query(request.gid))

        return await self._call(context, query())

    async def RetrySaga(self, request: pb.RetrySagaRequest, context: grpc.aio.ServicerContext) -> pb.SagaDetail:
        async def retry() -> pb.SagaDetail:
            await self.attention.retry(validation.gid(request.gid), _who(request.by))
            return saga_detail(*await self.service.query(request.gid))

        return await self._call(context, retry())

    async def ResolveSaga(self, request: pb.ResolveSagaRequest, context: grpc.aio.ServicerContext) -> pb.SagaDetail:
        async def resolve() -> pb.SagaDetail:
            step = validation.branch_id(request.step_id, "step_id")
            output = (
                json.loads(validation.json_text(request.output_json, "output_json"))
                if request.output_json
                else NO_OUTPUT
            )
            await self.attention.resolve(validation.gid(request.gid), step, _who(request.by), output)
            return saga_detail(*await self.service.query(request.gid))

        return await self._call(context, resolve())


def _who(by: str) -> str:
    """Who asked, as the timeline records it."""
    return validation.text(by, "by", limit=200) or "an unnamed admin"
