"""Call a service by name: endpoints come from the registry (cached, kept fresh by a watch), picked by the
balancer, with fail-over to the next endpoint on UNAVAILABLE and a deadline that is never exceeded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc

from sdk.errors import NoEndpoints, RpcError, rpc_error
from sdk.registry.balancer import Balancer
from sdk.registry.client import RegistryClient
from sdk.rpc.backoff import backoff_delays
from sdk.rpc.client import DEFAULT_TIMEOUT


class ServiceClient:
    def __init__(self, registry: RegistryClient, service: str, *, warmup: float = 0.0) -> None:
        self.registry = registry
        self.service = service
        self.balancer = Balancer(warmup=warmup)
        self._ready = asyncio.Event()
        self._watch_task: asyncio.Task[None] | None = None

    async def _follow(self) -> None:
        first = True
        async for endpoints in self.registry.watch(self.service):
            self.balancer.update((ep.address for ep in endpoints), initial=first)
            first = False
            self._ready.set()

    async def endpoints(self, timeout: float) -> list[str]:
        """The cached endpoint list; the first call starts the watch and waits for its first answer."""
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._follow(), name=f"watch-{self.service}")
        if not self._ready.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ready.wait()), timeout)
        return self.balancer.addresses

    async def invoke(self, action: str, payload: Any, *, timeout: float | None = None) -> Any:
        """Call ``action`` on one endpoint of the service with a JSON payload and return the JSON reply."""
        loop = asyncio.get_running_loop()
        budget = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = loop.time() + budget
        delays = backoff_delays(initial=0.05, maximum=0.5)
        last_error: RpcError | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self.endpoints(remaining)
            tried: set[str] = set()
            while (address := self.balancer.pick(exclude=tried)) is not None:
                tried.add(address)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    return await self.registry.actions.invoke_json(
                        address, self.service, action, payload, timeout=remaining, retry_unavailable=False
                    )
                except RpcError as exc:
                    if exc.code != grpc.StatusCode.UNAVAILABLE:
                        raise
                    last_error = exc
                    self.balancer.mark_down(address)
            delay = next(delays)
            if deadline - loop.time() <= delay:
                break
            await asyncio.sleep(delay)
        if last_error is not None:
            raise rpc_error(
                grpc.StatusCode.UNAVAILABLE,
                f"every endpoint of {self.service!r} failed within {budget}s: {last_error.details}",
            )
        if not self._ready.is_set():
            raise rpc_error(
                grpc.StatusCode.UNAVAILABLE,
                f"registry {self.registry.address} gave no endpoints of {self.service!r} within {budget}s",
            )
        if not self.balancer.addresses:
            raise NoEndpoints(self.service)
        raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, f"no reply from {self.service!r} within {budget}s")

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
