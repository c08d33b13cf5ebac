"""Phase-2 delivery: call a branch's confirm or cancel on its participant, found through the registry."""

from __future__ import annotations

from typing import Protocol

import grpc

from sdk.errors import NoEndpoints, RpcError
from sdk.registry import RegistryClient, ServiceClient
from sdk.tcc_wire import action_name, envelope
from txcoord.model import Branch, Phase2


class Delivery(Protocol):
    async def deliver(self, branch: Branch, op: Phase2) -> None:
        """Run confirm/cancel of ``branch`` on its participant; raise on any failure (it will be retried)."""


class RegistryDelivery:
    """Delivers over generic JSON invocation, one cached ``ServiceClient`` per participant service."""

    def __init__(self, registry: RegistryClient | None, timeout: float = 10.0) -> None:
        self.registry = registry
        self.timeout = timeout
        self._clients: dict[str, ServiceClient] = {}

    def _client(self, service: str) -> ServiceClient:
        client = self._clients.get(service)
        if client is None:
            if self.registry is None:
                raise RuntimeError("phase-2 delivery used before its registry client was set")
            client = self._clients[service] = ServiceClient(self.registry, service)
        return client

    async def deliver(self, branch: Branch, op: Phase2) -> None:
        """One attempt: one call to one endpoint (the driver, not this call, owns retries and backoff)."""
        client = self._client(branch.service)
        if not await client.endpoints(self.timeout):
            raise NoEndpoints(branch.service)
        address = client.balancer.pick()
        if address is None:
            raise NoEndpoints(branch.service)
        try:
            await client.registry.pool.invoke_json(
                address,
                branch.service,
                action_name(branch.action, op.value),
                envelope(branch.gid, branch.branch_id, branch.payload),
                timeout=self.timeout,
                retry_unavailable=False,
            )
        except RpcError as exc:
            if exc.code == grpc.StatusCode.UNAVAILABLE:
                client.balancer.mark_down(address)
            raise

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
