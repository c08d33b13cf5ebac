"""The caller's side of sagas: register a definition, start an instance, look at one.

    coordinator = CoordinatorClient("127.0.0.1:7070")
    result = await coordinator.start_saga("book_trip", {"user": "ann", ...}, wait=True)
    result.state, result.outputs["flight"]

The gid is made here, so a start retried after a lost reply finds the instance it already created."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from sdk._proto import saga_pb2 as pb
from sdk._proto import saga_pb2_grpc
from sdk.errors import RpcError
from sdk.rpc import ChannelPool
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.client import translate_error

NO_OUTPUT: Any = object()  # resolve of a compensating saga: the person undid the step, which returns nothing

WAIT_MARGIN = 30.0


def _gid() -> str:
    return f"{time.time_ns():016x}{os.urandom(6).hex()}"


def _loads(data: bytes) -> Any:
    return json.loads(data) if data else None


@dataclass(frozen=True)
class StepResult:
    step_id: str
    state: str
    attempts: int
    output: Any
    last_error: str


@dataclass(frozen=True)
class SagaResult:
    """A saga instance as the coordinator reports it; ``outputs`` maps step id to its recorded output."""

    gid: str
    name: str
    version: int
    state: str
    created: bool
    error: str
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    detail: pb.SagaDetail | None = field(default=None, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """It ended by itself: SUCCEEDED or COMPENSATED (not COMPENSATION_FAILED, which waits for a person)."""
        return self.state in ("SUCCEEDED", "COMPENSATED")

    @classmethod
    def from_proto(cls, detail: pb.SagaDetail) -> SagaResult:
        """The result of a coordinator's ``SagaDetail`` reply."""
        steps = [StepResult(s.step_id, s.state, s.attempts, _loads(s.output_json), s.last_error) for s in detail.steps]
        return cls(
            gid=detail.gid,
            name=detail.name,
            version=detail.version,
            state=detail.state,
            created=detail.created,
            error=detail.error,
            outputs={s.step_id: s.output for s in steps if s.state in ("SUCCEEDED",) or s.output is not None},
            steps=steps,
            detail=detail,
        )


class SagaClient:
    def __init__(self, pool: ChannelPool, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self.stub = saga_pb2_grpc.SagasStub(pool.channel(address))

    async def _call(self, method: str, message: Any, timeout: float, *, retry: bool) -> Any:
        """One call; with ``retry``, UNAVAILABLE is retried with backoff within ``timeout`` (idempotent calls)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delays = backoff_delays(initial=0.05, maximum=1.0)
        while True:
            remaining = max(deadline - loop.time(), 0.01)
            try:
                return await getattr(self.stub, method)(message, timeout=remaining)
            except grpc.aio.AioRpcError as exc:
                error: RpcError = translate_error(exc, target=self.address)
                delay = next(delays)
                if not retry or error.code != grpc.StatusCode.UNAVAILABLE or deadline - loop.time() <= delay:
                    raise error from exc
                await asyncio.sleep(delay)

    async def register(self, source: str, file: str = "") -> pb.RegisterSagaReply:
        request = pb.RegisterSagaRequest(source=source, file=file)
        reply: pb.RegisterSagaReply = await self._call("RegisterSaga", request, self.timeout, retry=True)
        return reply

    async def start(
        self,
        name: str,
        input: Any = None,
        *,
        wait: bool = False,
        wait_timeout: float = 0.0,
        idempotency_key: str = "",
        version: int = 0,
        gid: str = "",
    ) -> SagaResult:
        request = pb.StartSagaRequest(
            name=name,
            version=version,
            input_json=json.dumps({} if input is None else input).encode(),
            idempotency_key=idempotency_key,
            wait=wait,
            wait_seconds=wait_timeout,
            gid=gid or _gid(),
        )
        # waiting: the call lasts as long as the saga (its timeout, by default) plus a margin
        budget = (wait_timeout or 3600.0) + WAIT_MARGIN if wait else self.timeout
        return SagaResult.from_proto(await self._call("StartSaga", request, budget, retry=True))

    async def definitions(self, name: str = "", limit: int = 200) -> list[pb.SagaDefinitionInfo]:
        """Registered definition versions with their YAML, newest version of each name first."""
        request = pb.ListSagaDefinitionsRequest(name=name, limit=limit)
        reply = await self._call("ListSagaDefinitions", request, self.timeout, retry=False)
        return list(reply.definitions)

    async def query(self, gid: str) -> SagaResult:
        return SagaResult.from_proto(
            await self._call("QuerySaga", pb.QuerySagaRequest(gid=gid), self.timeout, retry=True)
        )

    async def retry(self, gid: str, by: str = "") -> SagaResult:
        """Admin: drive a saga marked for a person (COMPENSATION_FAILED, FORWARD_FAILED) again: its service is
        back."""
        request = pb.RetrySagaRequest(gid=gid, by=by)
        return SagaResult.from_proto(await self._call("RetrySaga", request, self.timeout, retry=False))

    async def resolve(self, gid: str, step_id: str, by: str = "", *, output: Any = NO_OUTPUT) -> SagaResult:
        """Admin: record that a person did ``step_id`` by hand — compensated it (a saga COMPENSATION_FAILED), or
        completed a forward step with ``output`` as its result (FORWARD_FAILED) — and the coordinator drives the
        rest."""
        output_json = b"" if output is NO_OUTPUT else json.dumps(output).encode()
        request = pb.ResolveSagaRequest(gid=gid, step_id=step_id, by=by, output_json=output_json)
        return SagaResult.from_proto(await self._call("ResolveSaga", request, self.timeout, retry=False))
