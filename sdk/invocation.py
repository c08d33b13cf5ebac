"""Calling an action at an endpoint, whichever protocol the endpoint speaks: a registry address that is a
base URL (``http://…``, ``https://…``) is an HTTP participant (``sdk.http``), anything else gRPC. Everything
that calls participants (the coordinator's phase 2 and saga steps, ``txc call``, a caller's tries) goes
through this one interface, so none of it knows which protocol a participant chose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sdk.http.client import HttpActionClient
from sdk.http.wire import is_http_address
from sdk.rpc.client import ChannelPool


class ActionInvoker:
    """One gRPC channel pool and one pooled HTTP client; ``invoke_json`` picks by the address."""

    def __init__(self, pool: ChannelPool) -> None:
        self.grpc = pool
        self.http = HttpActionClient(pool.security, pool.default_timeout)

    async def invoke_json(
        self,
        address: str,
        service: str,
        action: str,
        payload: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        retry_unavailable: bool = True,
    ) -> Any:
        """See ``ChannelPool.invoke_json``; an HTTP endpoint gets one attempt whatever ``retry_unavailable``."""
        transport = self.http if is_http_address(address) else self.grpc
        return await transport.invoke_json(
            address,
            service,
            action,
            payload,
            timeout=timeout,
            metadata=metadata,
            retry_unavailable=retry_unavailable,
        )

    async def close(self) -> None:
        await self.http.close()
