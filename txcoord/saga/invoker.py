"""Sending a saga step's action or compensation to a participant of its service, found in the registry.

One attempt per call: the orchestrator owns retries and backoff. The body is the barrier's envelope
(``gid``, ``branch_id`` = the step id, ``args``); a compensation also gets the action's recorded output."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from sdk.branch_mac import MAC_FIELD
from sdk.errors import NoEndpoints
from sdk.registry import RegistryClient
from sdk.saga.wire import action_body, compensation_body
from txcoord import tracing, validation
from txcoord.engine.participants import ParticipantCaller
from txcoord.engine.signing import BranchSigning

NO_ENDPOINT_WAIT = 5.0


class StepInvoker(Protocol):
    async def action(self, gid: str, step_id: str, service: str, action: str, args: Any, timeout: float) -> Any:
        """The action's output; raises on failure."""

    async def compensate(
        self, gid: str, step_id: str, service: str, action: str, args: Any, output: Any, timeout: float
    ) -> None: ...


class RegistryInvoker(ParticipantCaller):
    what = "saga step invoker"

    def __init__(self, registry: RegistryClient | None, signing: BranchSigning) -> None:
        super().__init__(registry)
        self.signing = signing  # signs every step and compensation sent

    async def _call(self, service: str, action: str, body: Any, timeout: float) -> Any:
        client = self._client(service)
        # An attempt may spend up to NO_ENDPOINT_WAIT of its deadline waiting for an endpoint to (re)appear:
        # right after a restart of the coordinator (or of a participant) the registry is briefly empty, and
        # that must not use up a step's attempts in a fraction of a second.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + min(timeout, NO_ENDPOINT_WAIT)
        while True:
            await client.endpoints(max(0.1, give_up - loop.time()))
            address = client.balancer.pick()
            if address is not None:
                break
            if loop.time() >= give_up:
                raise NoEndpoints(service)
            await asyncio.sleep(0.1)
        return await self._invoke(client, address, service, action, body, timeout)

    def _signed(self, body: dict[str, Any], service: str, action: str) -> dict[str, Any]:
        if self.signing.on:
            body[MAC_FIELD] = self.signing.mac(body["gid"], body["branch_id"], service, action, body.get("args", {}))
        return body

    async def action(self, gid: str, step_id: str, service: str, action: str, args: Any, timeout: float) -> Any:
        reply = await tracing.saga_step(
            "action",
            gid,
            step_id,
            service,
            self._call(service, action, self._signed(action_body(gid, step_id, args), service, action), timeout),
        )
        output = reply.get("result") if isinstance(reply, dict) else reply
        # what the participant answered is stored and fed to later steps: refuse what the store cannot keep
        return validation.json_value(output, f"the output of step {step_id} ({service}.{action})")

    async def compensate(
        self, gid: str, step_id: str, service: str, action: str, args: Any, output: Any, timeout: float
    ) -> None:
        body = self._signed(compensation_body(gid, step_id, args, output), service, action)
        await tracing.saga_step("compensation", gid, step_id, service, self._call(service, action, body, timeout))
