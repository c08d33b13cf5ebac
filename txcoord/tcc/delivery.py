"""Phase-2 delivery: call a branch's confirm or cancel on its participant, found through the registry.

Concurrent deliveries to one service travel together in one ``txc.phase2`` call (see ``sdk.tcc_wire``):
under load that is one RPC for many branches instead of one each. A participant that does not know the
batch action gets single calls."""

from __future__ import annotations

from typing import Any, Protocol

import grpc

from sdk.errors import NoEndpoints, RpcError
from sdk.registry import RegistryClient, ServiceClient
from sdk.tcc_wire import PHASE2_BATCH_ACTION, action_name, envelope
from txcoord.batching import Batcher
from txcoord.engine.participants import ParticipantCaller
from txcoord.engine.signing import BranchSigning
from txcoord.tcc.model import Branch, Phase2

_CODES = {code.name: code for code in grpc.StatusCode}
_SINGLE = object()  # this item must go as a single call: the participant has no batch action


class Delivery(Protocol):
    async def deliver(self, branch: Branch, op: Phase2) -> None:
        """Run confirm/cancel of ``branch`` on its participant; raise on any failure (it will be retried)."""


class RegistryDelivery(ParticipantCaller):
    """Delivers over generic JSON invocation, one cached ``ServiceClient`` per participant service."""

    what = "phase-2 delivery"

    def __init__(
        self,
        registry: RegistryClient | None,
        timeout: float = 10.0,
        *,
        max_batch: int = 128,
        signing: BranchSigning | None = None,
    ) -> None:
        super().__init__(registry)
        self.signing = signing or BranchSigning(None)  # signs every confirm / cancel sent
        self.timeout = timeout
        self.max_batch = max_batch
        self._batchers: dict[str, Batcher[tuple[Branch, Phase2], Any]] = {}
        self._single: set[str] = set()  # services without the batch action
        self.deliveries = 0  # branch phases delivered (or attempted)

    async def _endpoint(self, service: str) -> tuple[ServiceClient, str]:
        client = self._client(service)
        if not await client.endpoints(self.timeout):
            raise NoEndpoints(service)
        address = client.balancer.pick()
        if address is None:
            raise NoEndpoints(service)
        return client, address

    async def _call(self, service: str, action: str, body: Any) -> Any:
        """One attempt: one call to one endpoint (the driver, not this call, owns retries and backoff)."""
        client, address = await self._endpoint(service)
        return await self._invoke(client, address, service, action, body, self.timeout)

    async def deliver(self, branch: Branch, op: Phase2) -> None:
        self.deliveries += 1
        if branch.service in self._single:
            await self._deliver_one(branch, op)
            return
        batcher = self._batchers.get(branch.service)
        if batcher is None:
            service = branch.service

            async def send(items: Any) -> list[Any]:
                return await self._send_batch(service, items)

            batcher = self._batchers[service] = Batcher(send, max_batch=self.max_batch)
        result = await batcher.submit((branch, op))
        if result is _SINGLE:
            await self._deliver_one(branch, op)
        elif isinstance(result, BaseException):
            raise result

    def _body(self, branch: Branch, op: Phase2) -> dict[str, Any]:
        called = action_name(branch.action, op.value)
        mac = self.signing.mac(branch.gid, branch.branch_id, branch.service, called, branch.payload)
        return envelope(branch.gid, branch.branch_id, branch.payload, mac)

    async def _deliver_one(self, branch: Branch, op: Phase2) -> None:
        await self._call(branch.service, action_name(branch.action, op.value), self._body(branch, op))

    async def _send_batch(self, service: str, items: list[tuple[Branch, Phase2]]) -> list[Any]:
        """One result per item: None (done), an exception (failed), or _SINGLE (send it alone)."""
        body = {"items": [{"action": b.action, "op": op.value, **self._body(b, op)} for b, op in items]}
        try:
            reply = await self._call(service, PHASE2_BATCH_ACTION, body)
        except RpcError as exc:
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                self._single.add(service)
                return [_SINGLE] * len(items)
            return [exc] * len(items)
        except Exception as exc:
            return [exc] * len(items)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            error = RpcError(grpc.StatusCode.INTERNAL, f"{service}: malformed {PHASE2_BATCH_ACTION} reply")
            return [error] * len(items)
        return [
            None
            if r.get("ok")
            else RpcError(_CODES.get(str(r.get("code")), grpc.StatusCode.UNKNOWN), str(r.get("error")), target=service)
            for r in results
        ]

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()
        await super().close()
