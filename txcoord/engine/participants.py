"""Calling participants found through the registry, shared by phase-2 delivery (TCC) and the saga step invoker:
one cached ``ServiceClient`` per service (its endpoints and balancer) and one attempt of a call at a time; the
caller owns retries and backoff."""

from __future__ import annotations

from typing import Any, ClassVar

import grpc

from sdk.errors import RpcError
from sdk.registry import RegistryClient, ServiceClient


class ParticipantCaller:
    """Base of the coordinator's callers of participants; ``registry`` may be set after construction (the
    coordinator's registry client exists only once its server started)."""

    what: ClassVar[str] = "participant caller"  # names the subclass in the error of a call made too early

    def __init__(self, registry: RegistryClient | None) -> None:
        self.registry = registry
        self._clients: dict[str, ServiceClient] = {}
        self.calls = 0  # RPCs made

    def _client(self, service: str) -> ServiceClient:
        client = self._clients.get(service)
        if client is None:
            if self.registry is None:
                raise RuntimeError(f"{self.what} used before its registry client was set")
            client = self._clients[service] = ServiceClient(self.registry, service)
        return client

    async def _invoke(
        self, client: ServiceClient, address: str, service: str, action: str, body: Any, timeout: float
    ) -> Any:
        """One call to one endpoint; an endpoint that did not answer is marked down in the service's balancer."""
        self.calls += 1
        try:
            return await client.registry.actions.invoke_json(
                address, service, action, body, timeout=timeout, retry_unavailable=False
            )
        except RpcError as exc:
            if exc.code == grpc.StatusCode.UNAVAILABLE:
                client.balancer.mark_down(address)
            raise

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
