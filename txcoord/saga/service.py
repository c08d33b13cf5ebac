"""The coordinator's saga operations: register a definition, start an instance, query one."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sdk.coordinator_client import new_gid
from sdk.saga import EvaluationError, SagaDefinition, SagaDefinitionError, parse_saga, render, validate_input
from txcoord.errors import InvalidArgument, TransactionNotFound
from txcoord.model import Event, TxState
from txcoord.saga.definitions import Definitions
from txcoord.saga.errors import VersionConflict
from txcoord.saga.orchestrator import SagaOrchestrator
from txcoord.saga.records import SagaInstance, StepRecord, StepState
from txcoord.saga.store import NewSaga, SagaStore

MAX_SOURCE = 256 * 1024
MAX_INPUT = 1024 * 1024
_GID = re.compile(r"^\S{1,128}$")


class SagaService:
    def __init__(
        self,
        store: SagaStore,
        definitions: Definitions,
        orchestrator: SagaOrchestrator,
        lease: float,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.orchestrator = orchestrator
        self.lease = lease

    async def register(self, source: str, file: str) -> tuple[SagaDefinition, bool]:
        if len(source) > MAX_SOURCE:
            raise InvalidArgument(f"source: {len(source)} bytes, at most {MAX_SOURCE}")
        try:
            saga = parse_saga(source, file or "<registered>")
        except SagaDefinitionError as exc:
            raise InvalidArgument(str(exc)) from None
        created, stored = await self.store.register_definition(saga.name, saga.version, source)
        self.definitions.registered(saga.name)
        if not created and stored != source:
            raise VersionConflict(saga.name, saga.version)
        return saga, created

    async def start(
        self, name: str, version: int, input_json: str, key: str, gid: str
    ) -> tuple[str, bool, SagaDefinition]:
        """Start (durably) and hand the instance to the orchestrator: (gid, created, definition)."""
        if gid and not _GID.match(gid):
            raise InvalidArgument(f"gid: must be 1-128 characters without spaces, got {gid[:40]!r}")
        if len(key) > 200:
            raise InvalidArgument("idempotency_key: at most 200 characters")
        if len(input_json) > MAX_INPUT:
            raise InvalidArgument(f"input_json: {len(input_json)} bytes, at most {MAX_INPUT}")
        try:
            value: Any = json.loads(input_json or "{}")
        except ValueError as exc:
            raise InvalidArgument(f"input_json: not JSON ({exc})") from None
        saga = await self.definitions.get(name, version)
        problems = validate_input(saga.input_schema, value)
        if problems:
            raise InvalidArgument(f"saga {saga.name} v{saga.version}: " + "; ".join(problems))
        firsts: dict[str, Any] = {}  # steps that wait for nothing: their first attempt is written with the start
        for step in saga.steps:
            if not step.after:
                try:
                    firsts[step.id] = render(step.input, {"input": value, "steps": {}})
                except EvaluationError:
                    continue  # the orchestrator records the failure
        requested = gid or new_gid()
        with self.orchestrator.driven.reserved(requested):  # recovery must not take it for a restart's leftover
            gid, written = await self.store.start(  # gid: the first instance's, when the key was used before
                NewSaga(
                    requested,
                    saga.name,
                    saga.version,
                    json.dumps(value),
                    key or None,
                    saga.timeout,
                    tuple(saga.ids),
                    tuple(json.dumps(firsts[sid]) if sid in firsts else None for sid in saga.ids),
                )
            )
            if written is not None:
                now = written.at
                instance = SagaInstance(
                    gid,
                    saga.name,
                    saga.version,
                    TxState.RUNNING.value,
                    value,
                    owner=self.orchestrator.owner,
                    deadline=now + timedelta(seconds=saga.timeout),
                    created_at=now,
                )
                for sid in saga.ids:
                    started = sid in firsts
                    instance.steps[sid] = StepRecord(
                        sid,
                        StepState.RUNNING if started else StepState.PENDING,
                        input=firsts.get(sid),
                        attempts=int(started),
                        started_at=now if started else None,
                    )
                instance.prestarted = set(firsts)
                self.orchestrator.drive(gid, instance)
        return gid, written is not None, saga

    async def wait(self, gid: str, timeout: float) -> SagaInstance | None:
        """Until ``gid`` ends or ``timeout`` passes; the instance when it succeeded here (its every field
        came back from the writes that recorded it), else None: ask the store."""
        return await self.orchestrator.wait(gid, timeout)

    async def query(self, gid: str, *, events: bool = True) -> tuple[SagaInstance, SagaDefinition, list[Event]]:
        instance = await self.store.load(gid)
        if instance is None:
            kind = await self.store.kind(gid)
            if kind is not None:  # a TCC or XA transaction: say where its story is told
                raise InvalidArgument(f"{gid!r} is a {kind} transaction, not a saga: see `txc tx show {gid}`")
            raise TransactionNotFound(gid)
        saga = await self.definitions.get(instance.name, instance.version)
        return instance, saga, await self.store.events(gid) if events else []

    @staticmethod
    def terminal(state: str) -> bool:
        return TxState(state).terminal
